"""``kv_stores`` (older names ``object_stores``, ``object_store``): seed data, as Viceroy reads it.

Either an array of ``{key, data | file, metadata?}`` tables (``path`` is accepted as the legacy
name of ``file``; ``[]`` is an empty store), or ``{file = "...", format = "json"}`` naming a JSON
object whose values are strings or ``{data | file, metadata?}`` objects. Files are read at
start-up as bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from compute_emu.manifest.files import DATA_FILE_MAX_BYTES, read_file

from ._common import KeyPath, Section, json_kind, kind_of
from .kv_store import key_problem

ALIASES = ("kv_stores", "object_stores", "object_store")

Seed = list[tuple[str, bytes, str | None]]


def parse_kv_stores(section: Section, local_server: Mapping[str, Any]) -> dict[str, Seed]:
    """Validate every KV store section into ``{name: [(key, body, metadata), ...]}``."""
    stores: dict[str, Seed] = {}
    for key, name, value in section.named_tables(local_server, ALIASES, "KV store"):
        stores[name] = _parse_store(section, key, value)
    return stores


def _parse_store(section: Section, key: KeyPath, value: Any) -> Seed:
    if isinstance(value, list):
        return [_parse_item(section, (*key, i), item) for i, item in enumerate(value)]
    if not isinstance(value, dict):
        section.fail(
            key,
            f"expected an array of {{ key = ..., data = ... }} tables or "
            f'{{ file = "...", format = "json" }}, got {kind_of(value)}',
        )
    if "file" not in value or "format" not in value:
        section.fail(
            key,
            'a KV store table needs both "file" and "format" (format = "json"); '
            "for inline entries write an array of { key = ..., data = ... } tables",
        )
    section.format(value, (*key, "format"), ("json",))
    file_key = (*key, "file")
    relative = section.file_name(value, file_key)
    data = section.read_json_object(file_key, relative)
    seed: Seed = []
    for item_key, item in data.items():
        problem = key_problem(item_key)
        if problem:
            section.in_file(file_key, relative, f"key {item_key[:60]!r}", problem)
        if isinstance(item, str):
            seed.append((item_key, item.encode("utf-8"), None))
            continue
        if not isinstance(item, dict):
            section.in_file(
                file_key,
                relative,
                f'"{item_key}"',
                f'expected a string or an object with "data" or "file", not {json_kind(item)}',
            )
        for field in ("data", "file", "metadata"):
            if field in item and not isinstance(item[field], str):
                section.in_file(
                    file_key,
                    relative,
                    f'"{item_key}".{field}',
                    f"expected a string, not {json_kind(item[field])}",
                )
        if ("data" in item) == ("file" in item):
            which = "both" if "data" in item else "neither"
            section.in_file(
                file_key,
                relative,
                f'"{item_key}"',
                f'give exactly one of "data" or "file", not {which}',
            )
        if "data" in item:
            body = item["data"].encode("utf-8")
        else:
            path = section.resolve(item["file"])
            try:
                body = read_file(path, DATA_FILE_MAX_BYTES)
            except OSError as exc:
                section.in_file(
                    file_key,
                    relative,
                    f'"{item_key}".file',
                    f'cannot read "{path}": {exc.strerror or exc}',
                )
        seed.append((item_key, body, item.get("metadata")))
    return seed


def _parse_item(section: Section, key: KeyPath, item: Any) -> tuple[str, bytes, str | None]:
    table = section.table(item, key, hint=" (write { key = ..., data = ... })")
    name = section.string(table, (*key, "key"), required=True)
    assert name is not None
    problem = key_problem(name)
    if problem:
        section.fail((*key, "key"), f"invalid key {name[:60]!r}: {problem}")
    file_field = "file" if "file" in table or "path" not in table else "path"
    if "file" in table and "path" in table:
        section.fail((*key, "path"), 'give "file" ("path" is its old name), not both')
    if (file_field in table) == ("data" in table):
        if "data" in table:
            section.fail((*key, file_field), 'give exactly one of "data" or "file", not both')
        section.fail(key, f'entry "{name}" needs "data" (the value) or "file" (a path to read)')
    metadata = section.string(table, (*key, "metadata"))
    if "data" in table:
        data = section.string(table, (*key, "data"))
        assert data is not None
        return name, data.encode("utf-8"), metadata
    relative = section.file_name(table, (*key, file_field))
    return name, section.read_bytes((*key, file_field), relative), metadata
