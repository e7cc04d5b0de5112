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
from ...cache.store import CachedBody, Entry, Obligation
from .._cache_knobs import Seconds, as_seconds
from .._streaming import StreamingBody
from ._objects import CacheError, CacheKey, Found, _headers, _InsertSink, _key, _run

if TYPE_CHECKING:
    from ...cache.store import CacheStore

__all__ = [
    "CacheError",
    "CacheKey",
    "Found",
    "InsertBuilder",
    "LookupBuilder",
    "Transaction",
    "TransactionInsertBuilder",
    "TransactionLookupBuilder",
    "TransactionUpdateBuilder",
    "insert",
    "lookup",
]


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
