"""The Simple cache (mirrors ``fastly::cache::simple``): get, get-or-set, purge.

::

    from compute_emu.sdk.cache import simple

    body = simple.get_or_set("greeting", b"hello", 60)       # a Body
    body = simple.get_or_set_with("slow", lambda: simple.CacheEntry(compute(), 30))
    simple.purge("greeting")

Built on the Core cache as in the crate: a miss in ``get_or_set_with`` is a transaction, so
concurrent callers for one key run the closure once. Each object carries a surrogate key
derived from its cache key (the SHA-256 of the key, hex), which :func:`purge` purges.
Differences from Rust: ``ttl`` is seconds or a ``timedelta``; errors raise
:class:`CacheError`; a closure that raises releases the key and its exception propagates
(wrapped in ``CacheError``, as Rust's ``CacheError::GetOrSet``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from .._body import Body
from .._cache_knobs import Seconds
from . import core
from .core import CacheError, CacheKey


@dataclass
class CacheEntry:
    """What a ``get_or_set_with`` closure returns: the value and how long to keep it."""

    value: Body | bytes | str
    ttl: Seconds


class PurgeScope(Enum):
    """Where a purge applies (one POP locally, so both mean the same)."""

    Pop = "pop"
    Global = "global"


class PurgeOptions:
    """Options of :func:`purge_with_opts` (``pop_scope()`` or ``global_scope()``)."""

    def __init__(self, scope: PurgeScope = PurgeScope.Pop) -> None:
        self.scope = scope

    @classmethod
    def pop_scope(cls) -> PurgeOptions:
        return cls(PurgeScope.Pop)

    @classmethod
    def global_scope(cls) -> PurgeOptions:
        return cls(PurgeScope.Global)


def _key(key: CacheKey) -> bytes:
    return key.encode() if isinstance(key, str) else bytes(key)


def surrogate_key_for(key: CacheKey) -> str:
    """The surrogate key each Simple cache object of ``key`` carries."""
    return hashlib.sha256(_key(key)).hexdigest().upper()


def get(key: CacheKey) -> Body | None:
    """The cached value of ``key``, or ``None``."""
    found = core.lookup(key).execute()
    return None if found is None else found.to_stream()


def _value(value: Body | bytes | str) -> bytes:
    if isinstance(value, Body):
        return value.into_bytes()
    return value.encode() if isinstance(value, str) else bytes(value)


def get_or_set_with(key: CacheKey, make: Callable[[], CacheEntry]) -> Body | None:
    """The cached value, or the value ``make()`` returns, stored for its ``ttl`` (concurrent
    callers for one key wait for the first one's ``make()``)."""
    tx = core.Transaction.lookup(key).execute()
    found = tx.found()
    if found is not None and not tx.must_insert_or_update():
        return found.to_stream()  # fresh, or stale while another caller refreshes it
    try:
        entry = make()
    except BaseException as exc:
        tx.cancel_insert_or_update()
        if isinstance(exc, Exception):
            raise CacheError(f"get_or_set_with: the closure failed: {exc}") from exc
        raise
    data = _value(entry.value)
    writer = (
        tx.insert(entry.ttl)
        .surrogate_keys([surrogate_key_for(key)])
        .known_length(len(data))
        .execute()
    )
    writer.write(data)
    writer.finish()
    return Body(data)


def get_or_set(key: CacheKey, value: Body | bytes | str, ttl: Seconds) -> Body:
    """The cached value, or ``value`` stored for ``ttl``."""
    body = get_or_set_with(key, lambda: CacheEntry(value, ttl))
    assert body is not None
    return body


def purge(key: CacheKey) -> None:
    """Remove the value of ``key``."""
    purge_with_opts(key, PurgeOptions.pop_scope())


def purge_with_opts(key: CacheKey, options: PurgeOptions) -> None:
    """Remove the value of ``key`` (the scope means nothing locally: one POP)."""
    from ..purge import purge_surrogate_key

    purge_surrogate_key(surrogate_key_for(key))
