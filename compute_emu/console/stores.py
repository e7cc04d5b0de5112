"""The console's Stores panel: the platform's stores as the app sees them, at run time.

Everything goes through the same :class:`~compute_emu.platform.Platform` objects the app's
SDK calls use (``services.platform``, swapped whole when fastly.toml changes), so a key
written here is what the app reads next, and one the app wrote is listed here. Secret values
are never sent: only their names.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from ..errors import UserError
from ..platform import KVError, KVStore, Platform, kv_key_problem
from .errors import ConsoleError

LIST_LIMIT = 100  # keys per page of a KV listing


def overview(platform: Platform) -> dict[str, Any]:
    """Every store by kind: KV stores with their key counts, config stores with their items,
    secret stores with their secrets' names (docs/console.md, "stores")."""
    config = []
    for name, store in sorted(platform.config_stores.items()):
        try:
            items: dict[str, str] | None = dict(store.load())
            problem = None
        except UserError as exc:  # its JSON file broke since start-up
            items, problem = None, str(exc)
        config.append({"name": name, "items": items, "error": problem})
    return {
        "kv": [
            {
                "name": name,
                "keys": len(store.keys()),
                "persisted": platform.kv_persist_dir is not None,
            }
            for name, store in sorted(platform.kv_stores.items())
        ],
        "config": config,
        "secret": [
            {"name": name, "names": store.names()}
            for name, store in sorted(platform.secret_stores.items())
        ],
    }


def kv_store(platform: Platform, name: str | None) -> KVStore:
    """The KV store ``name``, or a 404 naming the stores there are."""
    store = platform.kv_stores.get(name or "")
    if store is None:
        known = ", ".join(sorted(platform.kv_stores)) or "none in fastly.toml"
        raise ConsoleError(404, f"no KV store named {name!r} (KV stores: {known})")
    return store


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise ConsoleError(400, "say which key: a string")
    problem = kv_key_problem(key)
    if problem is not None:
        raise ConsoleError(400, f"KV key {key!r}: {problem}")
    return key


def kv_list(store: KVStore, prefix: str | None, cursor: str | None) -> dict[str, Any]:
    """One page of keys (``cursor``: where the last page ended)."""
    try:
        keys, next_cursor = store.list(prefix or None, cursor or None, LIST_LIMIT)
    except (KVError, ValueError) as exc:
        raise ConsoleError(400, f"KV store {store.name!r}: {exc}") from None
    return {"store": store.name, "keys": keys, "cursor": next_cursor}


def kv_read(store: KVStore, key: object) -> dict[str, Any]:
    """One entry: its value (text if it is UTF-8, else base64), metadata and generation."""
    name = _key(key)
    entry = store.lookup(name)
    if entry is None:
        raise ConsoleError(404, f"KV store {store.name!r} has no key {name!r}")
    try:
        value, encoding = entry.body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        value, encoding = base64.b64encode(entry.body).decode("ascii"), "base64"
    expires = None if entry.expires_at is None else round(entry.expires_at - time.time(), 1)
    return {
        "store": store.name,
        "key": name,
        "value": value,
        "encoding": encoding,
        "size": len(entry.body),
        "metadata": entry.metadata,
        "generation": entry.generation,
        "expires_in": expires,
    }


def kv_write(store: KVStore, body: dict[str, Any]) -> dict[str, Any]:
    """Write ``{"key", "value", "encoding"?, "metadata"?, "ttl"?}`` (an overwrite)."""
    name = _key(body.get("key"))
    value = body.get("value")
    if not isinstance(value, str):
        raise ConsoleError(400, "the value must be a string (base64 with encoding: base64)")
    encoding = body.get("encoding", "utf-8")
    if encoding == "base64":
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ConsoleError(400, "the value is not valid base64") from None
    elif encoding == "utf-8":
        data = value.encode("utf-8")
    else:
        raise ConsoleError(400, f"unknown encoding {encoding!r} (utf-8 or base64)")
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, str):
        raise ConsoleError(400, "metadata must be a string")
    ttl = body.get("ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float)):
        raise ConsoleError(400, "ttl must be a number of seconds")
    try:
        generation = store.insert(name, data, metadata=metadata or None, ttl=ttl)
    except KVError as exc:
        raise ConsoleError(400, f"KV store {store.name!r}: {exc}") from None
    return {"store": store.name, "key": name, "generation": generation}


def kv_delete(store: KVStore, key: object) -> dict[str, Any]:
    """Delete a key; ``deleted`` is false if it was not there."""
    name = _key(key)
    return {"store": store.name, "key": name, "deleted": store.delete(name)}
