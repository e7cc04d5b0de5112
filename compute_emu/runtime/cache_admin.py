"""``/.compute-emu/purge``: purging the running server's cache from scripts and tests.

``compute-emu purge KEY`` (or ``--all``, ``--soft``) POSTs here. The path never reaches the
app. The rules (:func:`check_purge`, pure) keep web pages out, since any page the developer
opens can send a simple cross-origin POST to a loopback port:

- only ``POST`` (405);
- only from a loopback peer, with a loopback ``Host`` (``localhost``, ``127.0.0.1``,
  ``[::1]``): not the other names the app port serves, so DNS rebinding cannot reach it (403);
- no ``Origin`` header: browsers send one with every ``POST`` from a page, purge clients
  never do (403); nor a ``Sec-Fetch-Site`` other than ``none`` (403).

Query: ``key=K`` (repeatable) or ``all=1``; ``soft=1`` marks stale instead of removing.
The answer is JSON: ``{"purged": N}``. ``POST /.compute-emu/cache-clock?advance=SECONDS``
moves the cache's clock on (tests: expire TTLs without sleeping); it answers
``{"advanced": SECONDS}``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from ..server.admission import Refusal, is_loopback_authority, is_loopback_peer

if TYPE_CHECKING:
    from ..cache.store import CacheStore
    from ..log import RequestLog
    from ..server.exchange import Exchange

PREFIX = "/.compute-emu/"
PURGE_PATH = PREFIX + "purge"
CLOCK_PATH = PREFIX + "cache-clock"


@dataclass(frozen=True)
class PurgeCommand:
    """What to purge."""

    keys: tuple[str, ...] = ()
    everything: bool = False
    soft: bool = False


@dataclass(frozen=True)
class AdvanceClock:
    """Move the cache clock on by ``seconds``."""

    seconds: float


def check_purge(
    method: str, target: str, headers: list[tuple[str, bytes]], peer: str
) -> PurgeCommand | AdvanceClock | Refusal:
    """The purge (or clock move) a request asks for, or why it is refused."""
    names = {n.lower(): v for n, v in headers}
    if not is_loopback_peer(peer):
        return Refusal(403, "purges are accepted from this machine only\n")
    host = names.get("host", b"").decode("latin-1")
    if not is_loopback_authority(host):
        return Refusal(403, "purges need a loopback Host (localhost, 127.0.0.1, [::1])\n")
    if "origin" in names:
        return Refusal(403, "purges are not accepted from web pages (Origin header)\n")
    if names.get("sec-fetch-site", b"none").lower() != b"none":
        return Refusal(403, "purges are not accepted from web pages (Sec-Fetch-Site)\n")
    parts = urlsplit(target)
    if parts.path not in (PURGE_PATH, CLOCK_PATH):
        return Refusal(404, f"unknown compute-emu path {parts.path!r} (try {PURGE_PATH})\n")
    if method != "POST":
        return Refusal(405, f"use POST for {parts.path}\n")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.path == CLOCK_PATH:
        values = [v for k, v in query if k == "advance"]
        try:
            seconds = float(values[0]) if values else -1.0
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds < 1e9:
            return Refusal(400, "say how far: ?advance=SECONDS (0 or more)\n")
        return AdvanceClock(seconds)
    keys = tuple(v for k, v in query if k == "key" and v)
    everything = any(k == "all" and v not in ("", "0") for k, v in query)
    soft = any(k == "soft" and v not in ("", "0") for k, v in query)
    if not keys and not everything:
        return Refusal(400, "say what to purge: ?key=KEY (repeatable) or ?all=1\n")
    return PurgeCommand(keys, everything, soft)


def purge(store: CacheStore, command: PurgeCommand, log: RequestLog | None = None) -> int:
    """Carry out a purge on the store (on the loop); how many objects it touched (said in
    ``log``)."""
    if command.everything:
        count = store.purge_all(soft=command.soft)
    else:
        count = sum(store.purge_surrogate_key(k, soft=command.soft) for k in command.keys)
    if log is not None:
        what = "everything" if command.everything else ", ".join(command.keys)
        verb = "soft-purged" if command.soft else "purged"
        log.info(f"cache: {verb} {count} object{'' if count == 1 else 's'} ({what})")
    return count


def with_cache_admin(
    handler: Callable[[Exchange], Awaitable[None]],
    store: CacheStore,
    date: Callable[[], bytes],
    log: RequestLog | None = None,
) -> Callable[[Exchange], Awaitable[None]]:
    """``handler`` with ``/.compute-emu/`` paths answered by compute-emu itself (purges are
    logged to ``log``)."""

    async def handle(exchange: Exchange) -> None:
        if not exchange.target.startswith(PREFIX):
            await handler(exchange)
            return
        decision = check_purge(
            exchange.method, exchange.target, exchange.headers, exchange.addresses.client[0]
        )
        if isinstance(decision, Refusal):
            status, body = decision.status, decision.message.encode()
            kind = b"text/plain; charset=utf-8"
        elif isinstance(decision, AdvanceClock):
            store.advance(decision.seconds)
            status, kind = 200, b"application/json"
            body = json.dumps({"advanced": decision.seconds}).encode() + b"\n"
        else:
            status, kind = 200, b"application/json"
            count = purge(store, decision, log)
            body = json.dumps({"purged": count}).encode() + b"\n"
        headers = [
            ("content-type", kind),
            ("content-length", str(len(body)).encode()),
            ("date", date()),
        ]
        await exchange.send_response(status, headers, body)

    return handle
