"""The native host's Core cache and purge calls: the SDK's host interface over the server's
:class:`~compute_emu.cache.store.CacheStore`.

The store lives on the event loop; every call here runs on the app's thread and does its
work on the loop through the host's ``calls.run``, except :meth:`CacheCalls.cache_close`,
which only posts to the loop (it may run from a garbage collection on any thread, the loop's
included). A lookup the SDK holds is a :class:`CacheLookup`: what was found, as of the
lookup, and the duty to insert or update that a transaction may carry (an obligation of the
store: others looking the key up wait until it is met or given up).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from ..cache.freshness import variant
from ..cache.store import CacheBodyError, CachedBody, CacheStore, Entry, Obligation
from ..sdk._interface import (
    BodyStream,
    CachedObject,
    CacheState,
    CacheWrite,
    Handle,
    Headers,
    HostError,
    StreamSink,
)

T = TypeVar("T")


class LoopCalls(Protocol):
    """Runs a coroutine function on the event loop and waits for its result."""

    def run(self, func: Callable[..., Awaitable[T]], *args: Any) -> T: ...


class LoopNotify(Protocol):
    """Has the event loop call a function soon, without waiting (from any thread)."""

    def notify(self, func: Callable[..., object], *args: Any) -> None: ...


class CacheServices(Protocol):
    """What the cache calls read of the server's services."""

    @property
    def cache(self) -> CacheStore: ...

    @property
    def loop(self) -> LoopNotify: ...


@dataclass(eq=False)
class CacheLookup:
    """One Core cache lookup, as the SDK holds it (an opaque handle to the SDK)."""

    key: bytes
    entry: Entry | None  # what was found (None: nothing, or a readthrough HTTP object)
    state: CacheState
    found: CachedObject | None
    obligation: Obligation | None = None  # this transaction's duty to insert or update


class CacheCalls:
    """The Core cache part of the native host (mixed into the request's host).

    The host provides ``services`` (with ``cache`` and ``loop``) and ``calls``.
    """

    services: CacheServices
    calls: LoopCalls

    def cache_lookup(self, key: bytes, request_headers: Headers, transaction: bool) -> Handle:
        store = self.services.cache
        if transaction:
            return self.calls.run(_transaction, store, key, request_headers)
        return self.calls.run(_lookup, store, key, request_headers)

    def cache_state(self, lookup: Handle) -> CacheState:
        return _lookup_of(lookup).state

    def cache_object(self, lookup: Handle) -> CachedObject | None:
        found = _lookup_of(lookup)
        if found.found is None or found.found.length is not None or found.entry is None:
            return found.found
        body = found.entry.body  # still being written when looked up: has it ended since?
        return replace(found.found, length=body.size) if body.complete else found.found

    def cache_body(self, lookup: Handle, start: int, end: int | None) -> BodyStream:
        entry = _lookup_of(lookup).entry
        if entry is None:
            raise HostError("invalid_argument", "the lookup found nothing, so there is no body")
        return CachedBodyStream(self.calls, entry.body, start, end)

    def cache_insert(self, key: bytes, options: CacheWrite) -> StreamSink:
        store = self.services.cache
        entry: Entry = self.calls.run(_insert, store, key, options, None)
        return InsertSink(self.calls, store, entry.body)

    def cache_transaction_insert(
        self, lookup: Handle, options: CacheWrite, stream_back: bool
    ) -> tuple[StreamSink, Handle | None]:
        tx = _lookup_of(lookup)
        obligation = _take_obligation(tx, "insert")
        store = self.services.cache
        entry: Entry = self.calls.run(_insert, store, tx.key, options, obligation)
        sink = InsertSink(self.calls, store, entry.body)
        if not stream_back:
            return sink, None
        return sink, _found(tx.key, entry, entry.stored_at + options.initial_age)

    def cache_transaction_update(self, lookup: Handle, options: CacheWrite) -> None:
        tx = _lookup_of(lookup)
        if tx.entry is None:
            raise HostError(
                "invalid_argument", "only a transaction that found a stale object can update it"
            )
        obligation = _take_obligation(tx, "update")
        self.calls.run(_update, self.services.cache, tx.key, options, tx.entry, obligation)

    def cache_transaction_cancel(self, lookup: Handle) -> None:
        tx = _lookup_of(lookup)
        obligation, tx.obligation = tx.obligation, None
        if obligation is not None:
            self.calls.run(_end, self.services.cache, tx.key, obligation)

    def cache_close(self, lookup: Handle) -> None:
        tx = _lookup_of(lookup)
        obligation, tx.obligation = tx.obligation, None
        if obligation is not None:  # given up: the next caller waiting for the key gets it
            self.services.loop.notify(self.services.cache.end, tx.key, obligation, "failed")

    def purge_surrogate_key(self, key: str, soft: bool) -> None:
        self.calls.run(_purge, self.services.cache, key, soft)


def _lookup_of(handle: Handle) -> CacheLookup:
    if not isinstance(handle, CacheLookup):
        raise HostError("invalid_argument", f"not a cache lookup: {type(handle).__name__}")
    return handle


def _take_obligation(tx: CacheLookup, what: str) -> Obligation:
    obligation, tx.obligation = tx.obligation, None
    if obligation is None:
        raise HostError("invalid_argument", f"this transaction has no obligation to {what}")
    return obligation


def _found(
    key: bytes, entry: Entry | None, now: float, obligation: Obligation | None = None
) -> CacheLookup:
    """A lookup's view of ``entry`` at ``now``."""
    state = CacheState(
        found=entry is not None,
        usable=entry is not None and entry.within_swr(now),
        stale=entry is not None and not entry.is_fresh(now),
        must_insert_or_update=obligation is not None,
    )
    if entry is None:
        return CacheLookup(key, None, state, None, obligation)
    found = CachedObject(
        age=entry.age(now),
        max_age=entry.max_age,
        stale_while_revalidate=entry.stale_while_revalidate,
        hits=entry.hits,
        length=entry.body.size if entry.body.complete else None,
        user_metadata=entry.user_metadata,
        surrogate_keys=tuple(sorted(entry.surrogate_keys)),
        vary=tuple(entry.vary),
        sensitive=entry.sensitive,
    )
    return CacheLookup(key, entry, state, found, obligation)


def _core_entry(
    store: CacheStore, key: bytes, headers: Iterable[tuple[str, bytes]]
) -> Entry | None:
    """The Core cache object stored under ``key`` for these request headers (a hit)."""
    entry = store.lookup(key, headers)
    if entry is None or entry.meta is not None:  # readthrough HTTP objects are not Core's
        return None
    entry.hits += 1
    return entry


async def _lookup(store: CacheStore, key: bytes, headers: Headers) -> CacheLookup:
    return _found(key, _core_entry(store, key, headers), store.now())


async def _transaction(store: CacheStore, key: bytes, headers: Headers) -> CacheLookup:
    """A lookup that collapses misses: the first caller gets the obligation to insert (or to
    update a stale object), the others wait for it to be met or given up."""
    while True:
        entry = _core_entry(store, key, headers)
        now = store.now()
        if entry is not None and entry.is_fresh(now):
            return _found(key, entry, now)
        pending = store.obligation(key)
        if entry is not None and entry.within_swr(now):
            duty = store.begin(key) if pending is None else None
            return _found(key, entry, now, obligation=duty)
        if pending is None:
            return _found(key, entry, now, obligation=store.begin(key))
        await pending.wait()


def _new_entry(store: CacheStore, key: bytes, options: CacheWrite) -> Entry:
    """The object an insert makes. Its initial age counts against its max age, as on Fastly
    (an object inserted 10 s old with a max age of 60 s is fresh for 50 s more): it is
    stored as if inserted that long ago."""
    return Entry(
        key=key,
        body=CachedBody(),
        stored_at=store.now() - options.initial_age,
        max_age=options.ttl,
        stale_while_revalidate=options.stale_while_revalidate,
        vary=options.vary,
        variant=variant(options.vary, options.request_headers),
        surrogate_keys=frozenset(options.surrogate_keys),
        user_metadata=options.user_metadata,
        sensitive=options.sensitive,
    )


async def _insert(
    store: CacheStore, key: bytes, options: CacheWrite, obligation: Obligation | None
) -> Entry:
    entry = _new_entry(store, key, options)
    store.insert(entry)
    if obligation is not None:
        store.end(key, obligation, "stored")
    return entry


async def _update(
    store: CacheStore, key: bytes, options: CacheWrite, old: Entry, obligation: Obligation
) -> None:
    """Fresh facts for a found object, its body kept (and its surrogate keys and metadata,
    unless new ones are given)."""
    entry = _new_entry(store, key, options)
    entry.body = old.body
    if not options.surrogate_keys:
        entry.surrogate_keys = old.surrogate_keys
    if not options.user_metadata:
        entry.user_metadata = old.user_metadata
    store.insert(entry)
    store.end(key, obligation, "stored")


async def _end(store: CacheStore, key: bytes, obligation: Obligation) -> None:
    store.end(key, obligation, "failed")


async def _purge(store: CacheStore, key: str, soft: bool) -> None:
    store.purge_surrogate_key(key, soft=soft)


class CachedBodyStream:
    """A found object's body from ``start`` to ``end`` (exclusive), read through the loop
    (it streams while the object is still being written)."""

    def __init__(self, calls: LoopCalls, body: CachedBody, start: int, end: int | None) -> None:
        self._calls = calls
        self._body = body
        self._index = 0
        self._skip = max(start, 0)
        self._left = None if end is None else max(end - self._skip, 0)

    def read_chunk(self) -> bytes:
        while self._left != 0:
            try:
                chunk: bytes = self._calls.run(self._body.chunk, self._index)
            except CacheBodyError as exc:
                raise HostError("unexpected", str(exc)) from None
            if not chunk:
                return b""
            self._index += 1
            if self._skip >= len(chunk):
                self._skip -= len(chunk)
                continue
            chunk, self._skip = chunk[self._skip :], 0
            if self._left is not None:
                chunk = chunk[: self._left]
                self._left -= len(chunk)
            return chunk
        return b""


class InsertSink:
    """The body of an inserted object: each write goes into it on the loop. A body over the
    cache's object size is abandoned (nothing is stored; readers see an error)."""

    def __init__(self, calls: LoopCalls, store: CacheStore, body: CachedBody) -> None:
        self._calls = calls
        self._store = store
        self._body = body
        self.finished = False

    def write(self, data: bytes) -> None:
        self._calls.run(_append, self._store, self._body, bytes(data))

    def finish(self) -> None:
        if not self.finished:
            self.finished = True
            self._calls.run(_finish, self._body)


async def _append(store: CacheStore, body: CachedBody, data: bytes) -> None:
    body.append(data)
    if not store.fits(body.size):
        body.fail()


async def _finish(body: CachedBody) -> None:
    body.finish()
