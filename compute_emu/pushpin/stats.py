"""Pushpin's statistics: who is connected and who is subscribed to which channel.

pushpin-handler publishes on a ZeroMQ PUB socket (``stats_spec`` in the generated config,
:func:`~.config.stats_address`) messages ``TYPE T<tnetstring dict>``. Those read here
(observed on 1.36):

- ``sub``: a channel's subscriptions in one mode (``stream``, ``response``, ``ws``) with
  ``subscribers``, refreshed within ``ttl`` seconds; ``unavailable: true`` when the last
  subscriber left;
- ``conn``: a client connection the handler holds (``id``, ``type`` http/ws, ``route``),
  refreshed within ``ttl``; ``unavailable: true`` when it ends;
- ``message``: a published message went out on ``channel`` to ``count`` receivers over
  ``transport``.

The others (``activity``, ``counts``, ``report``) are skipped. :func:`parse_stats` is pure;
:func:`read_stats` is the socket around it (pyzmq), until cancelled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from . import tnetstring

KNOWN = frozenset({b"sub", b"conn", b"message"})
BATCH = 256  # stats messages read before the loop gets to run other work
POLL_INTERVAL = 0.05  # seconds between reads of the stats socket (the console's HELD_DELAY)


class StatsError(ValueError):
    """A stats message that is not what Pushpin sends."""


@dataclass(frozen=True)
class Subscription:
    """``sub``: the subscribers of ``channel`` in ``mode`` (gone: the last one left)."""

    channel: str
    mode: str
    subscribers: int
    ttl: float | None
    gone: bool = False


@dataclass(frozen=True)
class HeldConnection:
    """``conn``: a connection Pushpin holds on ``route`` (gone: it ended)."""

    id: str
    kind: str
    route: str
    ttl: float | None
    gone: bool = False


@dataclass(frozen=True)
class Delivery:
    """``message``: a published message went to ``count`` receivers of ``channel``."""

    channel: str
    count: int
    transport: str


StatsMessage = Subscription | HeldConnection | Delivery


def _text(fields: dict[bytes, Any], name: str, default: str | None = None) -> str:
    value = fields.get(name.encode())
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if default is not None and value is None:
        return default
    raise StatsError(f"field {name!r} is {value!r}, not a string")


def _number(fields: dict[bytes, Any], name: str) -> int | None:
    value = fields.get(name.encode())
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StatsError(f"field {name!r} is {value!r}, not a number")
    return int(value)


def parse_stats(message: bytes) -> StatsMessage | None:
    """The message as a value; None for the kinds not read. Raises :class:`StatsError`."""
    kind, space, payload = message.partition(b" ")
    if kind not in KNOWN:
        return None
    if not space or not payload.startswith(b"T"):
        raise StatsError(f"{kind.decode()} message without a tnetstring body")
    try:
        fields = tnetstring.decode(payload[1:])
    except tnetstring.TnetstringError as exc:
        raise StatsError(f"{kind.decode()} message: {exc}") from None
    if not isinstance(fields, dict):
        raise StatsError(f"{kind.decode()} message: not a dictionary")
    gone = fields.get(b"unavailable") is True
    ttl = _number(fields, "ttl")
    if kind == b"sub":
        return Subscription(
            channel=_text(fields, "channel"),
            mode=_text(fields, "mode", ""),
            subscribers=_number(fields, "subscribers") or 0,
            ttl=None if ttl is None else float(ttl),
            gone=gone,
        )
    if kind == b"conn":
        return HeldConnection(
            id=_text(fields, "id"),
            kind=_text(fields, "type", ""),
            route=_text(fields, "route", ""),
            ttl=None if ttl is None else float(ttl),
            gone=gone,
        )
    return Delivery(
        channel=_text(fields, "channel"),
        count=_number(fields, "count") or 0,
        transport=_text(fields, "transport", ""),
    )


async def read_stats(
    address: str,
    deliver: Callable[[StatsMessage], None],
    on_error: Callable[[str], None] | None = None,
) -> None:
    """Subscribe to the stats socket at ``address`` and hand each message read to
    ``deliver``, until cancelled (ZeroMQ reconnects by itself when Pushpin restarts).
    ``on_error`` is told of a message that could not be read (once per kind of problem).

    Only the kinds read are subscribed to (Pushpin filters the others out before sending).
    Pushpin says ``conn`` twice for every request it proxies, so the socket is not watched
    (a loop wake-up and a future per message, as many as the requests): it is drained every
    :data:`POLL_INTERVAL` seconds, :data:`BATCH` messages at a time.
    """
    import zmq

    context = zmq.Context()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVHWM, 10_000)
    said: set[str] = set()

    def read(raw: bytes) -> None:
        try:
            message = parse_stats(raw)
        except StatsError as exc:
            problem = str(exc)
            if on_error is not None and problem not in said and len(said) < 16:
                said.add(problem)
                on_error(f"a Pushpin stats message could not be read: {problem}")
            return
        if message is not None:
            deliver(message)

    def drain() -> bool:
        """Read what is waiting, up to BATCH messages; whether more may be waiting."""
        for _ in range(BATCH):
            try:
                raw = socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                return False
            read(raw)
        return True

    try:
        socket.connect(address)
        for kind in sorted(KNOWN):
            socket.setsockopt(zmq.SUBSCRIBE, kind + b" ")
        while True:
            await anyio.sleep(0 if drain() else POLL_INTERVAL)
    finally:
        socket.close(0)
        context.term()
