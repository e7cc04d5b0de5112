"""The Core cache (mirrors ``fastly::cache::core``): lookups, inserts and transactions.

::

    from compute_emu.sdk.cache import core

    found = core.lookup(b"my-key").execute()
    if found is None:
        with core.insert(b"my-key", 60).surrogate_keys(["products"]).execute() as body:
            body.write(b"value")

Objects live in the server's one in-memory cache, with the readthrough HTTP cache's objects
(its keys are kept apart), so ``purge_surrogate_key`` and ``compute-emu purge`` reach both.
Differences from Rust: durations are seconds (``float``) or ``timedelta``; keys are ``bytes``
or ``str``; ``Result`` errors are raised as :class:`CacheError`. ``Transaction.lookup`` with a
fetch already under way for the key waits for it (request collapsing), as on Fastly. An
insert is visible to lookups at once and its body streams to readers as it is written.
A transaction that is neither inserted nor cancelled is released when it is garbage collected.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self

from ...cache.freshness import variant
from ...cache.store import CacheBodyError, CachedBody, Entry, Obligation
from .._body import Body
from .._cache_knobs import Seconds, as_seconds
from .._host import current_host
from .._streaming import StreamingBody

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


class _Options:
    """What an insert says about the object (shared by the builders)."""

    def __init__(self, key: bytes, ttl: Seconds) -> None:
        self._key = key
        self._ttl = as_seconds(ttl)
        self._headers: list[tuple[str, bytes]] = []
        self._vary: tuple[str, ...] = ()
        self._initial_age = 0.0
        self._swr = 0.0
        self._keys: frozenset[str] = frozenset()
        self._metadata = b""
        self._sensitive = False
        self._length: int | None = None

    def header(self, name: str, value: str | bytes) -> Self:
        """A request header (for the ``vary_by`` variant)."""
        self._headers += _headers([(name, value)])
        return self

    def vary_by(self, names: Iterable[str]) -> Self:
        self._vary = tuple(sorted({n.lower() for n in names}))
        return self

    def initial_age(self, age: Seconds) -> Self:
        self._initial_age = as_seconds(age)
        return self

    def stale_while_revalidate(self, swr: Seconds) -> Self:
        self._swr = as_seconds(swr)
        return self

    def surrogate_keys(self, keys: Iterable[str]) -> Self:
        self._keys = frozenset(keys)
        return self

    def user_metadata(self, data: bytes | str) -> Self:
        self._metadata = data.encode() if isinstance(data, str) else bytes(data)
        return self

    def sensitive_data(self, sensitive: bool) -> Self:
        self._sensitive = bool(sensitive)
        return self

    def known_length(self, length: int) -> Self:
        self._length = int(length)
        return self

    def deliver_node_max_age(self, max_age: Seconds) -> Self:
        """Accepted (one cache node locally)."""
        as_seconds(max_age)
        return self

    def _entry(self, now: float) -> Entry:
        return Entry(
            key=self._key,
            body=CachedBody(),
            stored_at=now,
            max_age=self._ttl,
            initial_age=self._initial_age,
            stale_while_revalidate=self._swr,
            vary=self._vary,
            variant=variant(self._vary, self._headers),
            surrogate_keys=self._keys,
            user_metadata=self._metadata,
            sensitive=self._sensitive,
        )


async def _insert(store: CacheStore, options: _Options, obligation: Obligation | None) -> Entry:
    entry = options._entry(store.now())
    store.insert(entry)
    if obligation is not None:
        store.end(options._key, obligation, "stored")
    return entry


class InsertBuilder(_Options):
    """``core::insert(key, ttl)``: options, then :meth:`execute`."""

    def execute(self) -> StreamingBody:
        """Insert now; write the body to the returned stream and ``finish()`` it."""
        entry: Entry = _run("insert().execute()", _insert, self, None)
        return StreamingBody(_InsertSink(entry.body))


def insert(key: CacheKey, ttl: Seconds) -> InsertBuilder:
    """Insert an object under ``key`` for ``ttl`` seconds (no collapsing: see Transaction)."""
    return InsertBuilder(_key(key), ttl)


# -- lookups -------------------------------------------------------------------------------
class LookupBuilder:
    """``core::lookup(key)``: request headers for the variant, then :meth:`execute`."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._headers: list[tuple[str, bytes]] = []

    def header(self, name: str, value: str | bytes) -> Self:
        self._headers += _headers([(name, value)])
        return self

    def header_values(self, name: str, values: Sequence[str | bytes]) -> Self:
        for value in values:
            self.header(name, value)
        return self

    def execute(self) -> Found | None:
        """The object, if one is stored (fresh or stale), else ``None``."""
        return _run("lookup().execute()", _lookup, self._key, self._headers)  # type: ignore[no-any-return]


async def _lookup(
    store: CacheStore, key: bytes, headers: list[tuple[str, bytes]], count: bool = True
) -> Found | None:
    entry = store.lookup(key, headers)
    if entry is None or entry.meta is not None:
        return None
    if count:
        entry.hits += 1
    return Found(entry, store.now())


def lookup(key: CacheKey) -> LookupBuilder:
    """Look ``key`` up (no collapsing: see :class:`Transaction`)."""
    return LookupBuilder(_key(key))


class Transaction:
    """A lookup that collapses concurrent misses: one caller gets to insert, the others wait."""

    def __init__(self, key: bytes, found: Found | None, obligation: Obligation | None) -> None:
        self._key = key
        self._found = found
        self._obligation = obligation
        self._finalizer: weakref.finalize[Any, Transaction] | None = None

    @staticmethod
    def lookup(key: CacheKey) -> TransactionLookupBuilder:
        return TransactionLookupBuilder(_key(key))

    def found(self) -> Found | None:
        return self._found

    def must_insert(self) -> bool:
        """Nothing usable was found: this caller must insert (or cancel)."""
        return self._obligation is not None and self._found is None

    def must_insert_or_update(self) -> bool:
        """This caller must insert or update (nothing found, or found stale)."""
        return self._obligation is not None

    def insert(self, ttl: Seconds) -> TransactionInsertBuilder:
        if self._obligation is None:
            raise CacheError("this transaction has no obligation to insert")
        return TransactionInsertBuilder(self, ttl)

    def update(self, ttl: Seconds) -> TransactionUpdateBuilder:
        if self._obligation is None or self._found is None:
            raise CacheError("only a transaction that found a stale object can update it")
        return TransactionUpdateBuilder(self, ttl)

    def cancel_insert_or_update(self) -> None:
        """Give the obligation up: a waiting caller gets it."""
        self._release("failed")

    def _release(self, outcome: str) -> None:
        obligation, self._obligation = self._obligation, None
        if self._finalizer is not None:
            self._finalizer.detach()
        if obligation is not None:
            _run("Transaction", _end, self._key, obligation, outcome)


async def _end(store: CacheStore, key: bytes, obligation: Obligation, outcome: str) -> None:
    store.end(key, obligation, outcome)


def _release_later(
    loop: asyncio.AbstractEventLoop, store: CacheStore, key: bytes, obligation: Obligation
) -> None:
    if not loop.is_closed():
        loop.call_soon_threadsafe(store.end, key, obligation, "failed")


class TransactionLookupBuilder(LookupBuilder):
    """``Transaction::lookup(key)``."""

    def execute(self) -> Transaction:  # type: ignore[override]
        """Look up; waits if another caller is fetching this key."""
        found, obligation, loop, store = _run(
            "Transaction.lookup().execute()", _transaction, self._key, self._headers
        )
        tx = Transaction(self._key, found, obligation)
        if obligation is not None:
            tx._finalizer = weakref.finalize(tx, _release_later, loop, store, self._key, obligation)
        return tx


async def _transaction(
    store: CacheStore, key: bytes, headers: list[tuple[str, bytes]]
) -> tuple[Found | None, Obligation | None, asyncio.AbstractEventLoop, CacheStore]:
    loop = asyncio.get_running_loop()
    while True:
        found = await _lookup(store, key, headers)
        now = store.now()
        if found is not None and found._entry.is_fresh(now):
            return found, None, loop, store
        pending = store.obligation(key)
        if found is not None and found.is_usable():
            return found, (store.begin(key) if pending is None else None), loop, store
        if pending is None:
            return found, store.begin(key), loop, store
        await pending.wait()


class TransactionInsertBuilder(_Options):
    """``Transaction::insert(ttl)``."""

    def __init__(self, tx: Transaction, ttl: Seconds) -> None:
        super().__init__(tx._key, ttl)
        self._tx = tx

    def execute(self) -> StreamingBody:
        """Insert now (waiting callers see it at once); write the body to the stream."""
        obligation = self._tx._obligation
        self._tx._obligation = None
        if self._tx._finalizer is not None:
            self._tx._finalizer.detach()
        entry: Entry = _run("Transaction.insert().execute()", _insert, self, obligation)
        return StreamingBody(_InsertSink(entry.body))

    def execute_and_stream_back(self) -> tuple[StreamingBody, Found]:
        """Insert, and a ``Found`` that reads the body as it is written."""
        obligation = self._tx._obligation
        self._tx._obligation = None
        if self._tx._finalizer is not None:
            self._tx._finalizer.detach()
        entry: Entry = _run("Transaction.insert().execute()", _insert, self, obligation)
        return StreamingBody(_InsertSink(entry.body)), Found(entry, entry.stored_at)


class TransactionUpdateBuilder(_Options):
    """``Transaction::update(ttl)``: fresh metadata for the stale object found, same body."""

    def __init__(self, tx: Transaction, ttl: Seconds) -> None:
        super().__init__(tx._key, ttl)
        self._tx = tx

    def execute(self) -> None:
        tx = self._tx
        assert tx._found is not None
        obligation, tx._obligation = tx._obligation, None
        if tx._finalizer is not None:
            tx._finalizer.detach()
        _run("Transaction.update().execute()", _update, self, tx._found._entry, obligation)


async def _update(
    store: CacheStore, options: _Options, old: Entry, obligation: Obligation | None
) -> None:
    entry = options._entry(store.now())
    entry.body = old.body
    if not options._keys:
        entry.surrogate_keys = old.surrogate_keys
    if not options._metadata:
        entry.user_metadata = old.user_metadata
    store.insert(entry)
    if obligation is not None:
        store.end(options._key, obligation, "stored")
