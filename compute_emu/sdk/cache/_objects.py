"""What the Core cache's parts share: errors, keys, the host's lookups, ``Found`` and the body
streams of found and inserted objects (see ``core``)."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import TypeVar

from .._body import Body
from .._interface import BodyStream, CachedObject, CacheState, Handle, Host, HostError, StreamSink
from .._variants import host

CacheKey = bytes | str
T = TypeVar("T")


class CacheError(Exception):
    """A Core cache operation failed (Rust ``cache::core::CacheError``)."""


def _key(key: CacheKey) -> bytes:
    data = key.encode() if isinstance(key, str) else bytes(key)
    if not data or len(data) > 4096:
        raise CacheError("a cache key must be 1 to 4096 bytes")
    return data


def _call(what: str, call: Callable[[Host], T]) -> T:
    """``call(host)``, with a host error raised as ``CacheError``."""
    runtime = host(what)
    try:
        return call(runtime)
    except HostError as exc:
        raise CacheError(str(exc)) from None


def _headers(pairs: Iterable[tuple[str, str | bytes]]) -> list[tuple[str, bytes]]:
    return [(n.lower(), v.encode() if isinstance(v, str) else v) for n, v in pairs]


class _Lookup:
    """A lookup the host made, given back to it (``cache_close``) once nothing here uses it:
    neither the ``Found``, the ``Transaction`` nor a body stream of it."""

    __slots__ = ("__weakref__", "handle")

    def __init__(self, runtime: Host, handle: Handle) -> None:
        self.handle = handle
        close = weakref.finalize(self, runtime.cache_close, handle)
        close.atexit = False  # at exit there is no request left to give it back to


def _lookup(what: str, key: bytes, headers: list[tuple[str, bytes]], tx: bool) -> _Lookup:
    """Look ``key`` up (``tx``: as a transaction, which may wait for another's fetch)."""
    return _call(what, lambda h: _Lookup(h, h.cache_lookup(key, tuple(headers), tx)))


# -- Found -------------------------------------------------------------------------------
class _CacheBodyStream:
    """A found object's body as the host streams it (it may still be written)."""

    def __init__(self, lookup: _Lookup, stream: BodyStream) -> None:
        self._lookup = lookup  # the lookup stays open while its body is read
        self._stream = stream

    def read_chunk(self) -> bytes:
        try:
            return self._stream.read_chunk()
        except HostError as exc:
            raise CacheError(str(exc)) from None


class Found:
    """A cached object found by a lookup (``cache::core::Found``): its facts as of the lookup."""

    def __init__(self, lookup: _Lookup, state: CacheState, found: CachedObject) -> None:
        self._lookup = lookup
        self._state = state
        self._found = found

    @classmethod
    def _of(cls, what: str, lookup: _Lookup) -> Found | None:
        """What ``lookup`` found, or ``None``."""
        state, found = _call(
            what, lambda h: (h.cache_state(lookup.handle), h.cache_object(lookup.handle))
        )
        return None if found is None else cls(lookup, state, found)

    def age(self) -> float:
        """Seconds since it was inserted (plus its initial age)."""
        return self._found.age

    def max_age(self) -> float:
        """The TTL it was inserted with (seconds)."""
        return self._found.max_age

    def remaining_ttl(self) -> float:
        """Seconds of freshness left: its max age less its age (0 when stale)."""
        return 0.0 if self._state.stale else max(self._found.max_age - self._found.age, 0.0)

    def stale_while_revalidate(self) -> float:
        return self._found.stale_while_revalidate

    def is_stale(self) -> bool:
        return self._state.stale

    def is_usable(self) -> bool:
        """Fresh, or stale within stale-while-revalidate."""
        return self._state.usable

    def hits(self) -> int:
        return self._found.hits

    def known_length(self) -> int | None:
        """The body's length once it is all written, else ``None``."""
        if self._found.length is None:  # it may have been written since the lookup
            found = _call("Found.known_length()", lambda h: h.cache_object(self._lookup.handle))
            if found is not None:
                self._found = found
        return self._found.length

    def user_metadata(self) -> bytes:
        return self._found.user_metadata

    def surrogate_keys(self) -> list[str]:
        return sorted(self._found.surrogate_keys)

    def vary_rule(self) -> list[str]:
        return list(self._found.vary)

    def is_sensitive_data(self) -> bool:
        return self._found.sensitive

    def to_stream(self) -> Body:
        """The body (streams while it is still being written)."""
        return self._body("Found.to_stream()", 0, None)

    def to_stream_from_range(self, start: int | None = None, end: int | None = None) -> Body:
        """Bytes ``start`` to ``end`` (inclusive) of the body."""
        return self._body(
            "Found.to_stream_from_range()", start or 0, None if end is None else end + 1
        )

    def _body(self, what: str, start: int, end: int | None) -> Body:
        handle = self._lookup.handle
        stream = _call(what, lambda h: h.cache_body(handle, start, end))
        return Body.from_stream(_CacheBodyStream(self._lookup, stream))

    def __repr__(self) -> str:
        return f"<Found age={self.age():.1f} max_age={self.max_age()} hits={self.hits()}>"


# -- writing -------------------------------------------------------------------------------
class _InsertSink:
    """The StreamingBody of an insert: each write goes into the object (through the host)."""

    def __init__(self, sink: StreamSink) -> None:
        self._sink = sink
        self.finished = False

    def write(self, data: bytes) -> None:
        try:
            self._sink.write(bytes(data))
        except HostError as exc:
            raise CacheError(str(exc)) from None

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        try:
            self._sink.finish()
        except HostError as exc:
            raise CacheError(str(exc)) from None
