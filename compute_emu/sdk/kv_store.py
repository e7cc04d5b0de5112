"""KV stores: mirrors ``fastly::kv_store`` (``KVStore``, ``LookupResponse``, ``InsertMode``, ...).

::

    from compute_emu.sdk import KVStore, KVStoreError, InsertMode

    store = KVStore.open("visits")          # None if there is no such store
    try:
        count = int(store.lookup("count").take_body_bytes())
    except KVStoreError.ItemNotFound:
        count = 0
    store.build_insert().mode(InsertMode.Overwrite).execute("count", str(count + 1))

Deliberate differences from Rust:

- ``Result`` errors are raised as ``KVStoreError``; each Rust variant is a subclass
  (``KVStoreError.ItemNotFound``, ``.InvalidKey``, ``.ItemPreconditionFailed``,
  ``.ItemBadRequest``, ``.KVStoreNotFound``, ``.Unexpected``). ``open`` returns ``None`` for an
  unknown store, as Rust's ``Ok(None)``.
- ``lookup`` of a missing key raises ``ItemNotFound`` (Rust 0.11+); ``delete`` of a missing key
  raises ``ItemNotFound`` too (Viceroy reports "not found"); ``add`` on an existing key or a
  generation mismatch raises ``ItemPreconditionFailed``.
- ``LookupResponse.metadata()`` gives ``bytes | None`` as Rust; ``metadata_str()`` is a
  convenience. ``generation()`` is an alias of ``current_generation()``.
- ``time_to_live`` takes seconds (``float``) or a ``datetime.timedelta``.
- The ``*_async``/``pending_*_wait`` calls are not provided: every call completes at once.
- ``ListBuilder.iter()`` (Rust ``iter``) yields ``ListPage``s until the last one.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from enum import Enum
from typing import Any, ClassVar

from ._body import Body
from ._interface import Handle, HostError, KvEntry, KvInsert
from ._variants import VariantError, add_variants, host, variant_of


class KVStoreError(VariantError):
    """A KV store operation failed (Rust ``kv_store::KVStoreError``)."""

    ItemNotFound: ClassVar[type[KVStoreError]]
    InvalidKey: ClassVar[type[KVStoreError]]
    ItemPreconditionFailed: ClassVar[type[KVStoreError]]
    ItemBadRequest: ClassVar[type[KVStoreError]]
    KVStoreNotFound: ClassVar[type[KVStoreError]]
    Unexpected: ClassVar[type[KVStoreError]]


add_variants(
    KVStoreError,
    {
        "ItemNotFound": "The key is not in the store.",
        "InvalidKey": "The key provided for this operation was not valid.",
        "ItemPreconditionFailed": "An insert's precondition (mode add, generation) failed.",
        "ItemBadRequest": "The request was invalid (a bad cursor or limit, ...).",
        "KVStoreNotFound": "No KV store by this name exists.",
        "Unexpected": "Some unexpected error occurred.",
    },
)

_KINDS = {
    "not_found": "ItemNotFound",
    "invalid_key": "InvalidKey",
    "precondition_failed": "ItemPreconditionFailed",
    "invalid_argument": "ItemBadRequest",
}


def _error(exc: HostError) -> KVStoreError:
    return variant_of(KVStoreError, _KINDS, exc)


class InsertMode(Enum):
    """How an insert combines with an existing value."""

    Overwrite = "overwrite"
    Add = "add"
    Append = "append"
    Prepend = "prepend"


class LookupResponse:
    """The result of a successful lookup."""

    def __init__(self, key: str, entry: KvEntry) -> None:
        self._key = key
        self._body: bytes | None = entry.body
        self._metadata = entry.metadata
        self._generation = entry.generation

    def take_body(self) -> Body:
        """The value as a ``Body`` (empty if already taken)."""
        return Body(self.take_body_bytes())

    def try_take_body(self) -> Body | None:
        """The value, or ``None`` if it was already taken."""
        return None if self._body is None else self.take_body()

    def take_body_bytes(self) -> bytes:
        """The value as bytes (empty if already taken)."""
        body, self._body = self._body, None
        return body or b""

    def metadata(self) -> bytes | None:
        """The metadata, UTF-8 encoded, or ``None``."""
        return None if self._metadata is None else self._metadata.encode("utf-8")

    def metadata_str(self) -> str | None:
        """The metadata as text, or ``None`` (compute-emu convenience)."""
        return self._metadata

    def current_generation(self) -> int:
        """The generation of the value (changes on every write)."""
        return self._generation

    generation = current_generation

    def __repr__(self) -> str:
        return f"LookupResponse({self._key!r}, generation={self._generation})"


class ListPage:
    """One page of keys."""

    def __init__(self, keys: list[str], next_cursor: str | None, prefix: str | None, limit: int):
        self._keys = keys
        self._next_cursor = next_cursor
        self._prefix = prefix
        self._limit = limit

    def keys(self) -> list[str]:
        return list(self._keys)

    def into_keys(self) -> list[str]:
        return list(self._keys)

    def next_cursor(self) -> str | None:
        """Pass to ``build_list().cursor(...)`` for the next page; ``None`` on the last one."""
        return self._next_cursor

    def prefix(self) -> str | None:
        return self._prefix

    def limit(self) -> int:
        return self._limit

    def __repr__(self) -> str:
        return f"ListPage({self._keys!r}, next_cursor={self._next_cursor!r})"


class KVStore:
    """An open KV store."""

    def __init__(self, name: str, handle: Handle) -> None:
        self._name = name
        self._handle = handle

    @classmethod
    def open(cls, name: str) -> KVStore | None:
        """The store named ``name``, or ``None`` if there is none (the host says which
        stores there are)."""
        try:
            handle = host("KVStore.open()").kv_open(name)
        except HostError as exc:
            raise _error(exc) from None
        return None if handle is None else cls(name, handle)

    def name(self) -> str:
        return self._name

    def lookup(self, key: str) -> LookupResponse:
        """The value of ``key``; raises ``KVStoreError.ItemNotFound`` if it is missing."""
        return self.build_lookup().execute(key)

    def build_lookup(self) -> LookupBuilder:
        return LookupBuilder(self)

    def insert(self, key: str, value: Body | bytes | str) -> None:
        """Write ``value`` under ``key`` (overwriting)."""
        self.build_insert().execute(key, value)

    def build_insert(self) -> InsertBuilder:
        return InsertBuilder(self)

    def build_delete(self) -> DeleteBuilder:
        return DeleteBuilder(self)

    def pending_lookup_wait(self, pending: PendingKVOperation) -> LookupResponse:
        """The result of ``build_lookup().execute_async(key)``."""
        return pending.wait()  # type: ignore[no-any-return]

    def pending_insert_wait(self, pending: PendingKVOperation) -> None:
        """The result of ``build_insert().execute_async(key, value)``."""
        pending.wait()

    def pending_delete_wait(self, pending: PendingKVOperation) -> None:
        """The result of ``build_delete().execute_async(key)``."""
        pending.wait()

    def pending_list_wait(self, pending: PendingKVOperation) -> ListPage:
        """The result of ``build_list().execute_async()``."""
        return pending.wait()  # type: ignore[no-any-return]

    def delete(self, key: str) -> None:
        """Remove ``key``; raises ``KVStoreError.ItemNotFound`` if it is missing."""
        try:
            found = host("KVStore.delete()").kv_delete(self._handle, key)
        except HostError as exc:
            raise _error(exc) from None
        if not found:
            raise KVStoreError.ItemNotFound(f'key {key!r} not found in KV store "{self._name}"')

    def list(self) -> ListPage:
        """The first page of keys (up to 1000)."""
        return self.build_list().execute()

    def build_list(self) -> ListBuilder:
        return ListBuilder(self)

    def __repr__(self) -> str:
        return f"KVStore({self._name!r})"


class LookupBuilder:
    """``KVStore.build_lookup()``."""

    def __init__(self, store: KVStore) -> None:
        self._store = store

    def execute(self, key: str) -> LookupResponse:
        try:
            entry = host("KVStore.lookup()").kv_lookup(self._store._handle, key)
        except HostError as exc:
            raise _error(exc) from None
        if entry is None:
            raise KVStoreError.ItemNotFound(
                f'key {key!r} not found in KV store "{self._store._name}"'
            )
        return LookupResponse(key, entry)

    def execute_async(self, key: str) -> PendingKVOperation:
        """Start the lookup; ``KVStore.pending_lookup_wait()`` (or ``.wait()``) gives it."""
        return PendingKVOperation(lambda: self.execute(key))


class InsertBuilder:
    """``KVStore.build_insert()``: mode, metadata, generation match, time to live."""

    def __init__(self, store: KVStore) -> None:
        self._store = store
        self._mode = InsertMode.Overwrite
        self._metadata: str | None = None
        self._generation: int | None = None
        self._ttl: float | None = None
        self._background_fetch = False

    def mode(self, mode: InsertMode) -> InsertBuilder:
        self._mode = InsertMode(mode)
        return self

    def metadata(self, metadata: str) -> InsertBuilder:
        self._metadata = metadata
        return self

    def if_generation_match(self, generation: int) -> InsertBuilder:
        self._generation = generation
        return self

    def time_to_live(self, ttl: float | datetime.timedelta) -> InsertBuilder:
        self._ttl = ttl.total_seconds() if isinstance(ttl, datetime.timedelta) else float(ttl)
        return self

    def background_fetch(self) -> InsertBuilder:
        """Accepted for compatibility; no effect locally."""
        self._background_fetch = True
        return self

    def execute(self, key: str, value: Body | bytes | str) -> None:
        if isinstance(value, Body):
            data = value.into_bytes()
        elif isinstance(value, str):
            data = value.encode("utf-8")
        else:
            data = bytes(value)
        options = KvInsert(
            mode=self._mode.value,
            metadata=self._metadata,
            if_generation_match=self._generation,
            ttl=self._ttl,
            background_fetch=self._background_fetch,
        )
        try:
            host("KVStore.insert()").kv_insert(self._store._handle, key, data, options)
        except HostError as exc:
            raise _error(exc) from None

    def execute_async(self, key: str, value: Body | bytes | str) -> PendingKVOperation:
        """Start the insert; ``KVStore.pending_insert_wait()`` (or ``.wait()``) finishes it."""
        if isinstance(value, Body):
            value = value.into_bytes()  # read now: the app may reuse what it passed
        return PendingKVOperation(lambda: self.execute(key, value))


class ListBuilder:
    """``KVStore.build_list()``: prefix, cursor, limit."""

    def __init__(self, store: KVStore) -> None:
        self._store = store
        self._prefix: str | None = None
        self._cursor: str | None = None
        self._limit: int | None = None

    def prefix(self, prefix: str) -> ListBuilder:
        self._prefix = prefix
        return self

    def cursor(self, cursor: str) -> ListBuilder:
        self._cursor = cursor
        return self

    def limit(self, limit: int) -> ListBuilder:
        self._limit = limit
        return self

    def eventual_consistency(self) -> ListBuilder:
        """Accepted for compatibility; local lists are always consistent."""
        return self

    def execute(self) -> ListPage:
        try:
            page = host("KVStore.list()").kv_list(
                self._store._handle, self._prefix, self._cursor, self._limit
            )
        except HostError as exc:
            raise _error(exc) from None
        return ListPage(list(page.keys), page.next_cursor, self._prefix, self._limit or 1000)

    def execute_async(self) -> PendingKVOperation:
        """Start the listing; ``KVStore.pending_list_wait()`` (or ``.wait()``) gives it."""
        return PendingKVOperation(self.execute)

    def iter(self) -> Iterator[ListPage]:
        """Every page from the cursor on."""
        cursor = self._cursor
        while True:
            builder = ListBuilder(self._store)
            builder._prefix, builder._cursor, builder._limit = self._prefix, cursor, self._limit
            page = builder.execute()
            yield page
            cursor = page.next_cursor()
            if cursor is None:
                return


class DeleteBuilder:
    """``KVStore.build_delete()``."""

    def __init__(self, store: KVStore) -> None:
        self._store = store

    def execute(self, key: str) -> None:
        """Remove ``key``; raises ``KVStoreError.ItemNotFound`` if it is missing."""
        self._store.delete(key)

    def execute_async(self, key: str) -> PendingKVOperation:
        """Start the delete; ``KVStore.pending_delete_wait()`` (or ``.wait()``) finishes it."""
        return PendingKVOperation(lambda: self.execute(key))


class PendingKVOperation:
    """A KV operation started with ``execute_async``. Local stores answer at once, so the
    operation runs when it is started; ``wait()`` returns its result or raises its error."""

    def __init__(self, operation: Callable[[], Any]) -> None:
        self._result: Any = None
        self._error: KVStoreError | None = None
        try:
            self._result = operation()
        except KVStoreError as exc:
            self._error = exc

    def wait(self) -> Any:
        """The operation's result (raises the ``KVStoreError`` it failed with)."""
        if self._error is not None:
            raise self._error
        return self._result
