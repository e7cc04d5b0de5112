"""What the Core cache's parts share: errors, the way to the store, ``Found`` and the body
streams of found and inserted objects (see ``core``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ...cache.store import CacheBodyError, CachedBody, Entry
from .._body import Body
from .._host import current_host

if TYPE_CHECKING:
    from ...cache.store import CacheStore

CacheKey = bytes | str


class CacheError(Exception):
    """A Core cache operation failed (Rust ``cache::core::CacheError``)."""


def _key(key: CacheKey) -> bytes:
    data = key.encode() if isinstance(key, str) else bytes(key)
    if not data or len(data) > 4096:
        raise CacheError("a cache key must be 1 to 4096 bytes")
    return data


def _run(what: str, func: Any, *args: Any) -> Any:
    host = current_host(what)
    runner = getattr(host, "cache_run", None)
    if runner is None:
        raise RuntimeError(f"{what}: this host has no cache")
    return runner(func, *args)


def _headers(pairs: Iterable[tuple[str, str | bytes]]) -> list[tuple[str, bytes]]:
    return [(n.lower(), v.encode() if isinstance(v, str) else v) for n, v in pairs]


# -- Found -------------------------------------------------------------------------------
class _CacheBodyStream:
    """A found object's body, read through the loop (it may still be written)."""

    def __init__(self, body: CachedBody, start: int = 0, end: int | None = None) -> None:
        self._body = body
        self._index = 0
        self._skip = start
        self._left = None if end is None else max(end - start + 1, 0)

    def read_chunk(self) -> bytes:
        while True:
            if self._left == 0:
                return b""
            try:
                chunk: bytes = _run("Found.to_stream()", _chunk, self._body, self._index)
            except CacheBodyError as exc:
                raise CacheError(str(exc)) from None
            if not chunk:
                return b""
            self._index += 1
            if self._skip >= len(chunk):
                self._skip -= len(chunk)
                continue
            chunk, self._skip = chunk[self._skip :], 0
            if self._left is not None:
                chunk, self._left = chunk[: self._left], self._left - min(len(chunk), self._left)
            return chunk


async def _chunk(store: CacheStore, body: CachedBody, index: int) -> bytes:
    return await body.chunk(index)


class Found:
    """A cached object found by a lookup (``cache::core::Found``)."""

    def __init__(self, entry: Entry, now: float) -> None:
        self._entry = entry
        self._now = now

    def age(self) -> float:
        """Seconds since it was inserted (plus its initial age)."""
        return self._entry.age(self._now)

    def max_age(self) -> float:
        """The TTL it was inserted with (seconds)."""
        return self._entry.max_age

    def remaining_ttl(self) -> float:
        """Seconds of freshness left (0 when stale)."""
        return max(self._entry.expires_at - self._now, 0.0)

    def stale_while_revalidate(self) -> float:
        return self._entry.stale_while_revalidate

    def is_stale(self) -> bool:
        return not self._entry.is_fresh(self._now)

    def is_usable(self) -> bool:
        """Fresh, or stale within stale-while-revalidate."""
        return self._entry.within_swr(self._now)

    def hits(self) -> int:
        return self._entry.hits

    def known_length(self) -> int | None:
        """The body's length once it is all written, else ``None``."""
        return self._entry.body.size if self._entry.body.complete else None

    def user_metadata(self) -> bytes:
        return self._entry.user_metadata

    def surrogate_keys(self) -> list[str]:
        return sorted(self._entry.surrogate_keys)

    def vary_rule(self) -> list[str]:
        return list(self._entry.vary)

    def is_sensitive_data(self) -> bool:
        return self._entry.sensitive

    def to_stream(self) -> Body:
        """The body (streams while it is still being written)."""
        return Body.from_stream(_CacheBodyStream(self._entry.body))

    def to_stream_from_range(self, start: int | None = None, end: int | None = None) -> Body:
        """Bytes ``start`` to ``end`` (inclusive) of the body."""
        return Body.from_stream(_CacheBodyStream(self._entry.body, start or 0, end))

    def __repr__(self) -> str:
        return f"<Found age={self.age():.1f} max_age={self.max_age()} hits={self.hits()}>"


# -- writing -------------------------------------------------------------------------------
class _InsertSink:
    """The StreamingBody of an insert: each write goes into the object (through the loop)."""

    def __init__(self, body: CachedBody) -> None:
        self._body = body
        self.finished = False

    def write(self, data: bytes) -> None:
        _run("StreamingBody.write()", _append, self._body, bytes(data))

    def finish(self) -> None:
        if not self.finished:
            self.finished = True
            _run("StreamingBody.finish()", _finish, self._body)


async def _append(store: CacheStore, body: CachedBody, data: bytes) -> None:
    body.append(data)
    if not store.fits(body.size):
        body.fail()


async def _finish(store: CacheStore, body: CachedBody) -> None:
    body.finish()
