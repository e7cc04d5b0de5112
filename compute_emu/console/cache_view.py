"""The console's Cache panel: the server's cache objects, and the purges and clock of
``/.compute-emu/purge`` and ``/.compute-emu/cache-clock`` (the same functions carry them out).

Runs on the event loop, where the cache lives (``cache/store.py``).
"""

from __future__ import annotations

from typing import Any

from ..cache.store import CacheStore, Entry
from ..log import RequestLog
from ..runtime.cache_admin import PurgeCommand, purge
from .errors import ConsoleError

MAX_OBJECTS = 500  # objects listed (most recently used first)
MAX_ADVANCE = 10 * 365 * 86400.0  # seconds the clock may move at once


def _key_text(entry: Entry) -> str:
    if entry.label:
        return entry.label
    return entry.key.decode("utf-8", "replace")


def object_view(entry: Entry, now: float) -> dict[str, Any]:
    """One object (docs/console.md, "cache"): times in seconds on the cache's clock."""
    fresh_for = entry.expires_at - now
    if fresh_for > 0:
        state = "fresh"
    elif entry.within_swr(now):
        state = "stale-while-revalidate"
    elif entry.within_sie(now):
        state = "stale-if-error"
    else:
        state = "expired"
    return {
        "id": entry.id,
        "key": _key_text(entry),
        "kind": "http" if entry.meta is not None else "core",
        "status": None if entry.meta is None else entry.meta.status,
        "surrogate_keys": sorted(entry.surrogate_keys),
        "age": round(entry.age(now), 3),
        "ttl": round(entry.max_age, 3),
        "fresh_for": round(fresh_for, 3),
        "stale_while_revalidate": round(entry.stale_while_revalidate, 3),
        "stale_if_error": round(entry.stale_if_error, 3),
        "soft_purged": entry.stale_since is not None,
        "state": state,
        "hits": entry.hits,
        "size": entry.body.size,
        "complete": entry.body.complete,
        "vary": dict(entry.variant),
    }


def objects(store: CacheStore) -> dict[str, Any]:
    """The objects still kept (fresh or within a stale window), most recently used first."""
    now = store.now()
    kept = [e for e in reversed(store.entries()) if e.kept(now) and e.body.state != "failed"]
    return {
        "objects": [object_view(e, now) for e in kept[:MAX_OBJECTS]],
        "count": len(kept),
        "bytes": store.bytes,
        "capacity": store.capacity,
    }


def purge_request(store: CacheStore, body: dict[str, Any], log: RequestLog) -> dict[str, Any]:
    """``{"surrogate_key": K}`` or ``{"all": true}``, with ``"soft": true`` to mark stale."""
    soft = body.get("soft", False) is True
    if body.get("all") is True:
        command = PurgeCommand(everything=True, soft=soft)
    else:
        key = body.get("surrogate_key")
        if not isinstance(key, str) or not key:
            raise ConsoleError(400, 'say what to purge: {"surrogate_key": K} or {"all": true}')
        command = PurgeCommand(keys=(key,), soft=soft)
    return {"purged": purge(store, command, log)}


def remove_object(store: CacheStore, body: dict[str, Any], log: RequestLog) -> dict[str, Any]:
    """``{"id": N}``: remove that object (every variant of its key)."""
    wanted = body.get("id")
    entry = next((e for e in store.entries() if e.id == wanted), None)
    if entry is None:
        raise ConsoleError(404, f"no cache object {wanted!r} (it may have been evicted)")
    count = store.remove_key(entry.key)
    log.info(f"cache: removed {_key_text(entry)} ({count} object{'' if count == 1 else 's'})")
    return {"removed": count}


def advance_clock(store: CacheStore, body: dict[str, Any]) -> dict[str, Any]:
    """``{"seconds": S}``: move the cache's clock on (as ``/.compute-emu/cache-clock``)."""
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ConsoleError(400, 'say how far: {"seconds": S}')
    if not 0 <= seconds <= MAX_ADVANCE:
        raise ConsoleError(400, f"seconds must be 0 to {MAX_ADVANCE:.0f}")
    store.advance(float(seconds))
    return {"advanced": seconds}
