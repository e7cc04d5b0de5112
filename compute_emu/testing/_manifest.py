"""A project's manifest with a test's overrides applied: pure, no sockets, nothing written.

The overrides are written as the ``[local_server]`` tables of fastly.toml would be, and are
checked by the same parsers, so a bad override fails the way a bad fastly.toml does (a
one-line ``ManifestError``) and the server never sees anything the manifest could not say.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import ManifestError
from ..manifest import Manifest
from ..manifest._context import Context
from ..manifest.backends import parse_backend
from ..manifest.files import DATA_FILE_MAX_BYTES, read_file

#: A backend override: a URL (the rest of the fastly.toml backend is kept, e.g. its
#: ``override_host``) or a whole ``[local_server.backends.NAME]`` table.
BackendOverride = str | Mapping[str, Any]


def _manifest_text(path: Path) -> str:
    try:
        return read_file(path, DATA_FILE_MAX_BYTES, "fastly.toml").decode("utf-8", "replace")
    except OSError:
        return ""  # positions in messages are best effort


def backend_tables(
    manifest: Manifest, overrides: Mapping[str, BackendOverride]
) -> dict[str, dict[str, Any]]:
    """The raw ``[local_server.backends]`` tables after ``overrides`` (file order, new last)."""
    raw = manifest.local_server.get("backends", {})
    tables = {name: dict(table) for name, table in raw.items() if isinstance(table, dict)}
    for name, override in overrides.items():
        if isinstance(override, str):
            tables[name] = {**tables.get(name, {}), "url": override}
        else:
            tables[name] = dict(override)
    return tables


def kv_tables(stores: Mapping[str, Mapping[str, str | bytes]]) -> dict[str, Any]:
    """``{"store": {"key": "text"}}`` as ``kv_stores`` entries. Only text values go in here;
    :func:`binary_kv_items` lists the others, inserted once the store exists."""
    return {
        name: [
            {"key": key, "data": value} for key, value in items.items() if isinstance(value, str)
        ]
        for name, items in stores.items()
    }


def binary_kv_items(
    stores: Mapping[str, Mapping[str, str | bytes]],
) -> list[tuple[str, str, bytes]]:
    """``(store, key, value)`` for each ``bytes`` value of a KV override."""
    return [
        (name, key, value)
        for name, items in stores.items()
        for key, value in items.items()
        if isinstance(value, bytes)
    ]


def config_tables(stores: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """``{"store": {"key": "value"}}`` as inline ``config_stores`` tables."""
    return {
        name: {"format": "inline-toml", "contents": dict(items)} for name, items in stores.items()
    }


def secret_tables(stores: Mapping[str, Mapping[str, str | bytes]]) -> dict[str, Any]:
    """``{"store": {"name": "secret"}}`` as ``secret_stores`` entries (bytes must be UTF-8)."""
    tables: dict[str, Any] = {}
    for name, items in stores.items():
        entries = []
        for key, value in items.items():
            text = value.decode("utf-8") if isinstance(value, bytes) else value
            entries.append({"key": key, "data": text})
        tables[name] = entries
    return tables


def with_overrides(
    manifest: Manifest,
    *,
    backends: Mapping[str, BackendOverride] | None = None,
    kv_stores: Mapping[str, Mapping[str, str | bytes]] | None = None,
    config_stores: Mapping[str, Mapping[str, str]] | None = None,
    secret_stores: Mapping[str, Mapping[str, str | bytes]] | None = None,
    pushpin: bool | None = None,
) -> Manifest:
    """``manifest`` with backends re-pointed, stores replaced or added, Fanout on or off.

    A store named in an override replaces the fastly.toml store of that name (and of its
    older aliases, ``dictionaries`` and ``object_stores``) as a whole.
    """
    local = dict(manifest.local_server)
    changes: dict[str, Any] = {}
    if backends:
        tables = backend_tables(manifest, backends)
        ctx = Context(_manifest_text(manifest.path), manifest.path, manifest.project_dir)
        parsed = {
            name: parse_backend(ctx, name, table) if name in backends else manifest.backends[name]
            for name, table in tables.items()
        }
        local["backends"] = tables
        changes["backends"] = MappingProxyType(parsed)
        changes["warnings"] = (*manifest.warnings, *ctx.warnings)
    sections: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    if kv_stores:
        sections.append((("kv_stores", "object_stores", "object_store"), kv_tables(kv_stores)))
    if config_stores:
        sections.append((("config_stores", "dictionaries"), config_tables(config_stores)))
    if secret_stores:
        sections.append((("secret_stores",), secret_tables(secret_stores)))
    for aliases, tables in sections:
        for alias in aliases:
            if isinstance(local.get(alias), dict):
                local[alias] = {k: v for k, v in local[alias].items() if k not in tables}
        current = local.get(aliases[0], {})
        if not isinstance(current, dict):
            raise ManifestError(
                str(manifest.path), f"local_server.{aliases[0]}", "expected a table"
            )
        local[aliases[0]] = {**current, **tables}
    if pushpin is not None:
        changes["pushpin"] = dataclasses.replace(manifest.pushpin, enable=pushpin)
    return dataclasses.replace(manifest, local_server=MappingProxyType(local), **changes)
