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
A transaction that is neither inserted nor cancelled is released when it is garbage collected
(with what it found and that object's body streams). A ``Found`` holds the object's facts as of
its lookup (``known_length()`` asks again while the body is still being written).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Self

from .._cache_knobs import Seconds, as_seconds
from .._interface import CacheWrite
from .._streaming import StreamingBody
from ._objects import CacheError, CacheKey, Found, _call, _headers, _InsertSink, _key, _Lookup
from ._objects import _lookup as _host_lookup

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

    def _write(self) -> CacheWrite:
        return CacheWrite(
            ttl=self._ttl,
            request_headers=tuple(self._headers),
            vary=self._vary,
            initial_age=self._initial_age,
            stale_while_revalidate=self._swr,
            surrogate_keys=tuple(sorted(self._keys)),
            user_metadata=self._metadata,
            sensitive=self._sensitive,
            length=self._length,
        )


class InsertBuilder(_Options):
    """``core::insert(key, ttl)``: options, then :meth:`execute`."""

    def execute(self) -> StreamingBody:
        """Insert now; write the body to the returned stream and ``finish()`` it."""
        key, options = self._key, self._write()
        sink = _call("insert().execute()", lambda h: h.cache_insert(key, options))
        return StreamingBody(_InsertSink(sink))


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
        what = "lookup().execute()"
        return Found._of(what, _host_lookup(what, self._key, self._headers, False))


def lookup(key: CacheKey) -> LookupBuilder:
    """Look ``key`` up (no collapsing: see :class:`Transaction`)."""
    return LookupBuilder(_key(key))


class Transaction:
    """A lookup that collapses concurrent misses: one caller gets to insert, the others wait."""

    def __init__(
        self, key: bytes, lookup: _Lookup, found: Found | None, must_insert_or_update: bool
    ) -> None:
        self._key = key
        self._lookup = lookup
        self._found = found
        self._pending = must_insert_or_update  # until inserted, updated or cancelled

    @staticmethod
    def lookup(key: CacheKey) -> TransactionLookupBuilder:
        return TransactionLookupBuilder(_key(key))

    def found(self) -> Found | None:
        return self._found

    def must_insert(self) -> bool:
        """Nothing usable was found: this caller must insert (or cancel)."""
        return self._pending and self._found is None

    def must_insert_or_update(self) -> bool:
        """This caller must insert or update (nothing found, or found stale)."""
        return self._pending

    def insert(self, ttl: Seconds) -> TransactionInsertBuilder:
        if not self._pending:
            raise CacheError("this transaction has no obligation to insert")
        return TransactionInsertBuilder(self, ttl)

    def update(self, ttl: Seconds) -> TransactionUpdateBuilder:
        if not self._pending or self._found is None:
            raise CacheError("only a transaction that found a stale object can update it")
        return TransactionUpdateBuilder(self, ttl)

    def cancel_insert_or_update(self) -> None:
        """Give the obligation up: a waiting caller gets it."""
        if self._pending:
            self._pending = False
            handle = self._lookup.handle
            _call("Transaction", lambda h: h.cache_transaction_cancel(handle))


class TransactionLookupBuilder(LookupBuilder):
    """``Transaction::lookup(key)``."""

    def execute(self) -> Transaction:  # type: ignore[override]
        """Look up; waits if another caller is fetching this key."""
        what = "Transaction.lookup().execute()"
        lookup = _host_lookup(what, self._key, self._headers, True)
        state = _call(what, lambda h: h.cache_state(lookup.handle))
        found = Found._of(what, lookup) if state.found else None
        return Transaction(self._key, lookup, found, state.must_insert_or_update)


class TransactionInsertBuilder(_Options):
    """``Transaction::insert(ttl)``."""

    def __init__(self, tx: Transaction, ttl: Seconds) -> None:
        super().__init__(tx._key, ttl)
        self._tx = tx

    def execute(self) -> StreamingBody:
        """Insert now (waiting callers see it at once); write the body to the stream."""
        return self._insert(stream_back=False)[0]

    def execute_and_stream_back(self) -> tuple[StreamingBody, Found]:
        """Insert, and a ``Found`` that reads the body as it is written."""
        body, found = self._insert(stream_back=True)
        assert found is not None
        return body, found

    def _insert(self, stream_back: bool) -> tuple[StreamingBody, Found | None]:
        what = "Transaction.insert().execute()"
        self._tx._pending = False
        handle, options = self._tx._lookup.handle, self._write()
        sink, new = _call(what, lambda h: h.cache_transaction_insert(handle, options, stream_back))
        found = None
        if new is not None:
            found = Found._of(what, _call(what, lambda h: _Lookup(h, new)))
        return StreamingBody(_InsertSink(sink)), found


class TransactionUpdateBuilder(_Options):
    """``Transaction::update(ttl)``: fresh metadata for the stale object found, same body."""

    def __init__(self, tx: Transaction, ttl: Seconds) -> None:
        super().__init__(tx._key, ttl)
        self._tx = tx

    def execute(self) -> None:
        self._tx._pending = False
        handle, options = self._tx._lookup.handle, self._write()
        _call(
            "Transaction.update().execute()", lambda h: h.cache_transaction_update(handle, options)
        )
