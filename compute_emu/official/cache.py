"""``cache`` (the Core cache) and ``purge`` over compute-emu's cache, through
``compute_emu.sdk.cache.core`` and ``compute_emu.sdk.purge`` (the same store as
``compute_emu.sdk`` apps and the readthrough HTTP cache).

Differences: ``replace`` and ``http-cache`` raise ``Unsupported``; the ``*-async`` lookup
runs at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..sdk import purge as sdk_purge
from ..sdk._body import Body
from ..sdk.cache import core
from ..sdk.cache.core import CacheError, Found, Transaction
from . import handles, registry
from .handles import BodyHandle
from .messages import fit_bytes, request_of
from .registry import impl

_NS = 1_000_000_000


@dataclass
class CacheEntry:
    """A ``cache.entry``: what the lookup found, and the transaction if it was one."""

    found: Found | None
    tx: Transaction | None = None


def _entry(handle: object) -> CacheEntry:
    entry: CacheEntry = handles.emu(handle, CacheEntry)
    return entry


def _found(handle: object) -> Found:
    found = _entry(handle).found
    if found is None:
        raise registry.error("InvalidArgument")  # nothing was found: no body or metadata
    return found


def _request_headers(request: object | None) -> list[tuple[str, bytes]]:
    if request is None:
        return []
    return list(request_of(request)._headers.items())


def _lookup_builder(builder: Any, options: Any) -> Any:
    for name, value in _request_headers(getattr(options, "request_headers", None)):
        builder.header(name, value)
    return builder


def _write_options(builder: Any, options: Any) -> Any:
    """Apply a ``cache.write-options`` to a compute_emu.sdk insert/update builder."""
    for name, value in _request_headers(options.request_headers):
        builder.header(name, value)
    if options.vary_rule:
        builder.vary_by(options.vary_rule.split())
    if options.initial_age_ns is not None:
        builder.initial_age(options.initial_age_ns / _NS)
    if options.stale_while_revalidate_ns is not None:
        builder.stale_while_revalidate(options.stale_while_revalidate_ns / _NS)
    if options.surrogate_keys:
        builder.surrogate_keys(options.surrogate_keys.split())
    if options.user_metadata is not None:
        builder.user_metadata(bytes(options.user_metadata))
    if options.length is not None:
        builder.known_length(options.length)
    if options.edge_max_age_ns is not None:
        builder.deliver_node_max_age(options.edge_max_age_ns / _NS)
    builder.sensitive_data(bool(options.sensitive_data))
    return builder


def _run(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except (CacheError, ValueError) as exc:
        raise registry.error("InvalidArgument") from exc


def _writer(streaming: Any) -> Any:
    return handles.pollable(BodyHandle(out=streaming))


# -- lookups -------------------------------------------------------------------------------
@impl("cache", "Entry.lookup")
def lookup(cls: type, key: bytes, options: Any) -> Any:
    found = _run(lambda: _lookup_builder(core.lookup(bytes(key)), options).execute())
    return handles.new("cache", "Entry", CacheEntry(found))


@impl("cache", "Entry.transaction_lookup")
def transaction_lookup(cls: type, key: bytes, options: Any) -> Any:
    builder = _lookup_builder(Transaction.lookup(bytes(key)), options)
    tx: Transaction = _run(builder.execute)
    return handles.new("cache", "Entry", CacheEntry(tx.found(), tx))


@dataclass
class _PendingEntry:
    entry: Any


@impl("cache", "Entry.transaction_lookup_async")
def transaction_lookup_async(cls: type, key: bytes, options: Any) -> Any:
    return handles.pollable(_PendingEntry(transaction_lookup(cls, key, options)))


@impl("cache", "await_entry")
def await_entry(handle: object) -> Any:
    pending: _PendingEntry = handles.emu(handle, _PendingEntry)
    return pending.entry


# -- inserts -------------------------------------------------------------------------------
@impl("cache", "insert")
def insert(key: bytes, options: Any) -> Any:
    builder = _write_options(core.insert(bytes(key), options.max_age_ns / _NS), options)
    return _writer(_run(builder.execute))


@impl("cache", "Entry.transaction_insert")
def transaction_insert(self: object, options: Any) -> Any:
    tx = _entry(self).tx
    if tx is None or not tx.must_insert_or_update():
        raise registry.error("InvalidArgument")
    builder = _write_options(tx.insert(options.max_age_ns / _NS), options)
    return _writer(_run(builder.execute))


@impl("cache", "Entry.transaction_insert_and_stream_back")
def transaction_insert_and_stream_back(self: object, options: Any) -> tuple[Any, Any]:
    """Insert, and a new entry to read the object back while it is written."""
    tx = _entry(self).tx
    if tx is None or not tx.must_insert_or_update():
        raise registry.error("InvalidArgument")
    builder = _write_options(tx.insert(options.max_age_ns / _NS), options)
    streaming, found = _run(builder.execute_and_stream_back)
    return _writer(streaming), handles.new("cache", "Entry", CacheEntry(found))


@impl("cache", "Entry.transaction_update")
def transaction_update(self: object, options: Any) -> None:
    tx = _entry(self).tx
    if tx is None or not tx.must_insert_or_update():
        raise registry.error("InvalidArgument")
    _run(_write_options(tx.update(options.max_age_ns / _NS), options).execute)


@impl("cache", "Entry.transaction_cancel")
def transaction_cancel(self: object) -> None:
    tx = _entry(self).tx
    if tx is not None:
        _run(tx.cancel_insert_or_update)


def _close(handle: object) -> None:
    value = getattr(handle, "_emu", None)
    if isinstance(value, _PendingEntry):
        value = getattr(value.entry, "_emu", None)
    if isinstance(value, CacheEntry) and value.tx is not None and value.tx.must_insert_or_update():
        value.tx.cancel_insert_or_update()  # an obligation not taken up goes to the next caller


impl("cache", "close_entry")(_close)
impl("cache", "close_pending_entry")(_close)
impl("cache", "Entry.__exit__")(lambda self, *args: _close(self))


# -- what was found ------------------------------------------------------------------------
@impl("cache", "Entry.get_state")
def get_state(self: object) -> Any:
    state = registry.wit("cache").LookupState
    entry = _entry(self)
    flags = state(0)
    if entry.found is not None:
        flags |= state.FOUND
        if entry.found.is_usable():
            flags |= state.USABLE
        if entry.found.is_stale():
            flags |= state.STALE
    if entry.tx is not None and entry.tx.must_insert_or_update():
        flags |= state.MUST_INSERT_OR_UPDATE
    return flags


@impl("cache", "Entry.get_user_metadata")
def get_user_metadata(self: object, max_len: int) -> bytes | None:
    found = _entry(self).found
    return None if found is None else fit_bytes(found.user_metadata(), max_len)


@impl("cache", "Entry.get_body")
def get_body(self: object, options: Any) -> Any:
    found = _found(self)
    start, end = getattr(options, "from_", None), getattr(options, "to", None)
    body: Body = (
        found.to_stream()
        if start is None and end is None
        else (found.to_stream_from_range(start, end))
    )
    return handles.new_body(body)


def _optional(handle: object, value: Any) -> Any:
    return None if _entry(handle).found is None else value()


impl("cache", "Entry.get_length")(lambda self: _optional(self, lambda: _found(self).known_length()))
impl("cache", "Entry.get_hits")(lambda self: _optional(self, lambda: _found(self).hits()))
impl("cache", "Entry.get_max_age_ns")(
    lambda self: _optional(self, lambda: int(_found(self).max_age() * _NS))
)
impl("cache", "Entry.get_age_ns")(
    lambda self: _optional(self, lambda: int(_found(self).age() * _NS))
)
impl("cache", "Entry.get_stale_while_revalidate_ns")(
    lambda self: _optional(self, lambda: int(_found(self).stale_while_revalidate() * _NS))
)


# -- purge ---------------------------------------------------------------------------------
@impl("purge", "purge_surrogate_key")
def purge_surrogate_key(surrogate_keys: str, purge_options: Any) -> None:
    soft = bool(getattr(purge_options, "soft_purge", False))
    for key in surrogate_keys.split():
        try:
            if soft:
                sdk_purge.soft_purge_surrogate_key(key)
            else:
                sdk_purge.purge_surrogate_key(key)
        except (ValueError, RuntimeError) as exc:
            raise registry.error("InvalidArgument") from exc
