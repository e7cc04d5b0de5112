"""Fastly's HTTP caching semantics for the readthrough cache: pure rules, no I/O, no clock.

From Fastly's "HTTP caching semantics" (cache freshness) page, Compute behaviour:

- Cacheable statuses: 200, 203, 300, 301, 302, 404, 410; anything else is not stored.
- TTL, in order of preference: ``Surrogate-Control: max-age``, ``Cache-Control: s-maxage``,
  ``Cache-Control: max-age``, ``Expires`` (minus ``Date``); else the default of 2 minutes. The
  response's ``Age`` counts against it (the object is that old already), except for an
  ``Expires``-based TTL: then the object's age starts at 0 whatever ``Age`` says (Fastly's
  ``Age`` reference, "Expires-based freshness").
- ``stale-while-revalidate`` and ``stale-if-error``: ``Surrogate-Control`` first, then
  ``Cache-Control``; default 0.
- Surrogate-Control wins over Cache-Control for what it says: the TTL and the stale windows
  (Fastly's Surrogate-Control reference: "will prefer Surrogate-Control over Cache-Control if
  both exist", for the freshness of the object). It does not make a response storable that
  Fastly does not store:
- Not stored, whatever Surrogate-Control says: ``Cache-Control: private`` ("Don't store", one of
  the few Cache-Control directives that influence Fastly's caching, per "About cache control
  headers"), ``Cache-Control: no-store`` and ``Surrogate-Control: no-store``, a ``Set-Cookie``
  header (Fastly passes those by default; the Compute SDKs record them uncacheable), and
  ``Vary: *``. ``Cache-Control: no-cache`` is ignored by Fastly (same page): the response is
  stored, which is the split Fastly recommends (``Cache-Control: no-cache`` for browsers,
  ``Surrogate-Control: max-age`` for the edge).
- Hit-for-pass: ``private``, ``no-store`` and ``Set-Cookie`` are recorded uncacheable (Fastly
  passes them in ``vcl_fetch``, which makes a hit-for-pass object; the Compute SDKs record a
  ``Set-Cookie`` response uncacheable), for the TTL the response would have had: later
  requests for its key go to the backend at once instead of queueing behind one fetch. An
  uncacheable status and ``Vary: *`` are not recorded.
- ``Vary`` names the request headers whose values pick the variant (the secondary key).
- ``Surrogate-Key`` lists the keys a purge can name (space-separated).
- Revalidation (RFC 9111 §4.3): a stale object with an ``ETag`` or ``Last-Modified`` is
  refreshed with ``If-None-Match``/``If-Modified-Since``; a 304's headers update the stored ones.
"""

from __future__ import annotations

import email.utils
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Headers = Iterable[tuple[str, bytes]]

CACHEABLE_STATUSES = frozenset({200, 203, 300, 301, 302, 404, 410})
DEFAULT_TTL = 120.0  # seconds: "2 min" in Fastly's table for a response with no freshness info
LOOKUP_METHODS = frozenset({"GET", "HEAD"})
MAX_SECONDS = 10 * 365 * 24 * 3600.0  # larger values are clamped (no overflow anywhere)
# Headers the app never sees on a backend response that went through the cache.
STRIPPED = frozenset({"surrogate-control"})


def directives(value: str | None) -> dict[str, str | None]:
    """``"max-age=60, private"`` -> ``{"max-age": "60", "private": None}`` (names lowercased,
    quotes removed; the first occurrence of a directive wins)."""
    result: dict[str, str | None] = {}
    if not value:
        return result
    for part in value.split(","):
        name, eq, arg = part.strip().partition("=")
        name = name.strip().lower()
        if not name or name in result:
            continue
        result[name] = arg.strip().strip('"') if eq else None
    return result


def seconds(value: str | None) -> float | None:
    """A delta-seconds argument, or None if it is missing or not a non-negative integer."""
    if value is None or not value.isdigit():
        return None
    return min(float(int(value[:20])), MAX_SECONDS)


def _header(headers: Headers, name: str) -> str | None:
    """All values of ``name`` joined with ``,`` (None if absent)."""
    values = [v.decode("latin-1") for n, v in headers if n.lower() == name]
    return ", ".join(values) if values else None


def http_date(value: str | None) -> float | None:
    """An HTTP date as a Unix time, or None if it does not parse."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.timestamp()


@dataclass(frozen=True)
class Freshness:
    """What a backend response says about caching it."""

    storable: bool
    reason: str  # why not stored ("" when storable)
    record_uncacheable: bool  # not stored, and recorded so (hit-for-pass) for ``ttl``
    ttl: float  # seconds of freshness left when it arrived (max-age minus Age)
    age: float  # the response's Age when it arrived
    stale_while_revalidate: float = 0.0
    stale_if_error: float = 0.0
    vary: tuple[str, ...] = ()  # lowercase request header names
    surrogate_keys: frozenset[str] = field(default_factory=frozenset)


def analyse(status: int, headers: Headers, now: float) -> Freshness:
    """The caching verdict for a response with ``status`` and ``headers`` at Unix time ``now``."""
    headers = list(headers)
    surrogate = directives(_header(headers, "surrogate-control"))
    cache_control = directives(_header(headers, "cache-control"))
    age = seconds((_header(headers, "age") or "").split(",")[0].strip()) or 0.0
    ttl = _max_age(surrogate, cache_control)
    if ttl is None and (ttl := _expires(headers, now)) is not None:
        age = 0.0  # an Expires-based TTL: the object's age starts at 0
    ttl = DEFAULT_TTL if ttl is None else ttl
    swr = _first(surrogate, cache_control, "stale-while-revalidate")
    sie = _first(surrogate, cache_control, "stale-if-error")
    vary = vary_names(_header(headers, "vary"))
    keys = surrogate_keys(_header(headers, "surrogate-key"))
    reason, record = _not_storable(status, surrogate, cache_control, headers, vary)
    return Freshness(
        storable=not reason,
        reason=reason,
        record_uncacheable=record,
        ttl=max(ttl - age, 0.0),
        age=age,
        stale_while_revalidate=swr,
        stale_if_error=sie,
        vary=tuple(v for v in vary if v != "*"),
        surrogate_keys=keys,
    )


def _max_age(
    surrogate: Mapping[str, str | None], cache_control: Mapping[str, str | None]
) -> float | None:
    """The first of Surrogate-Control max-age, s-maxage and max-age that is given."""
    for found in (
        seconds(surrogate.get("max-age")),
        seconds(cache_control.get("s-maxage")),
        seconds(cache_control.get("max-age")),
    ):
        if found is not None:
            return found
    return None


def _expires(headers: list[tuple[str, bytes]], now: float) -> float | None:
    """The freshness ``Expires`` gives (minus ``Date``, else ``now``), if there is one."""
    expires_text = _header(headers, "expires")
    if expires_text is None:
        return None
    expires = http_date(expires_text)
    if expires is None:  # an invalid Expires means "already expired" (RFC 9111 §5.3)
        return 0.0
    date = http_date(_header(headers, "date"))
    return min(max(expires - (now if date is None else date), 0.0), MAX_SECONDS)


def _first(
    surrogate: Mapping[str, str | None], cache_control: Mapping[str, str | None], name: str
) -> float:
    for found in (seconds(surrogate.get(name)), seconds(cache_control.get(name))):
        if found is not None:
            return found
    return 0.0


def _not_storable(
    status: int,
    surrogate: Mapping[str, str | None],
    cache_control: Mapping[str, str | None],
    headers: list[tuple[str, bytes]],
    vary: tuple[str, ...],
) -> tuple[str, bool]:
    """Why the response is not stored ("" if it is), and whether that is recorded
    (hit-for-pass)."""
    if status not in CACHEABLE_STATUSES:
        return f"status {status}", False
    if "*" in vary:
        return "Vary: *", False
    if "no-store" in surrogate:
        return "Surrogate-Control: no-store", True
    for name in ("private", "no-store"):  # no-cache is ignored by Fastly
        if name in cache_control:
            return f"Cache-Control: {name}", True
    if any(n.lower() == "set-cookie" for n, _ in headers):
        return "Set-Cookie", True
    return "", False


def vary_names(value: str | None) -> tuple[str, ...]:
    """``"Accept-Encoding, Origin"`` -> ``("accept-encoding", "origin")`` (sorted, unique)."""
    if not value:
        return ()
    return tuple(sorted({n.strip().lower() for n in value.split(",") if n.strip()}))


def surrogate_keys(value: str | None) -> frozenset[str]:
    """The keys of a ``Surrogate-Key`` header (space-separated)."""
    return frozenset(value.split()) if value else frozenset()


def variant(vary: Iterable[str], request_headers: Headers) -> tuple[tuple[str, str], ...]:
    """The secondary key: each Vary header name with the request's value ("" if absent)."""
    request_headers = list(request_headers)
    return tuple((name, _header(request_headers, name) or "") for name in vary)


def http_cache_key(url: str, host: str | None) -> bytes:
    """The readthrough cache key of a request: its URL and Host header (not the method, so
    GET and HEAD share objects). ``b"http:"`` keeps it apart from Core cache keys."""
    digest = hashlib.sha256(f"{host or ''}\n{url}".encode()).hexdigest()
    return b"http:" + digest.encode()


def app_headers(headers: Headers) -> list[tuple[str, bytes]]:
    """The response headers as the app sees them (``Surrogate-Control`` removed)."""
    return [(n, v) for n, v in headers if n.lower() not in STRIPPED]


_NOT_UPDATED = frozenset(
    {"content-length", "content-encoding", "transfer-encoding", "content-range"}
)


def validators(headers: Headers) -> list[tuple[str, bytes]]:
    """The conditional request headers that revalidate an object with ``headers``."""
    headers = list(headers)
    found: list[tuple[str, bytes]] = []
    etag = _header(headers, "etag")
    if etag:
        found.append(("if-none-match", etag.encode("latin-1")))
    modified = _header(headers, "last-modified")
    if modified:
        found.append(("if-modified-since", modified.encode("latin-1")))
    return found


def refreshed(stored: Headers, not_modified: Headers) -> list[tuple[str, bytes]]:
    """The stored headers updated by a 304's (RFC 9111 §3.2: its fields replace the stored
    ones of the same name, except those describing the body)."""
    updates = [(n, v) for n, v in not_modified if n.lower() not in _NOT_UPDATED]
    names = {n.lower() for n, _ in updates}
    return [(n, v) for n, v in stored if n.lower() not in names] + updates
