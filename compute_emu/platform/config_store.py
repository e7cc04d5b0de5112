"""Config stores (``config_stores``, older name ``dictionaries``), as Viceroy reads them.

``format = "inline-toml"`` with a ``contents`` table of strings, or ``format = "json"`` with a
``file`` holding a flat string-to-string object. Keys are at most 256 characters, values at most
8000. A JSON file is read (and checked) at start-up and read again on every open, as Viceroy does,
so editing it takes effect for the next request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

from compute_emu.errors import ManifestError
from compute_emu.sdk._names import CONFIG_KEY_MAX_CHARS as KEY_MAX_CHARS
from compute_emu.sdk._names import CONFIG_VALUE_MAX_CHARS as VALUE_MAX_CHARS

from ._common import KeyPath, Section, json_kind, json_object, kind_of

FORMATS = ("inline-toml", "json")


@dataclass(frozen=True)
class ConfigStoreConfig:
    """One config store: inline ``contents``, or a JSON ``file`` re-read on every ``load()``."""

    name: str
    format: str
    contents: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    file: Path | None = None
    #: where errors found when re-reading ``file`` point: manifest path, key path, line, column
    _origin: tuple[str, str, int | None, int | None] = field(
        default=("", "", None, None), repr=False, compare=False
    )

    def load(self) -> Mapping[str, str]:
        """The store's items now (re-reads a JSON file); raises ``ManifestError`` if it broke."""
        if self.file is None:
            return self.contents
        path, key, line, column = self._origin

        def fail(problem: str) -> NoReturn:
            raise ManifestError(path, key, problem, line=line, column=column)

        return MappingProxyType(_check_json(self.file, json_object(self.file, fail), fail))


def parse_config_stores(
    section: Section, local_server: Mapping[str, Any]
) -> dict[str, ConfigStoreConfig]:
    """Validate ``config_stores`` and ``dictionaries`` into ``{name: ConfigStoreConfig}``."""
    stores: dict[str, ConfigStoreConfig] = {}
    aliases = ("config_stores", "dictionaries")
    for key, name, value in section.named_tables(local_server, aliases, "config store"):
        stores[name] = _parse_one(section, key, name, value)
    return stores


def _parse_one(section: Section, key: KeyPath, name: str, value: Any) -> ConfigStoreConfig:
    table = section.table(
        value, key, hint=' (write a table with format = "inline-toml" and contents = {...})'
    )
    fmt = section.format(table, (*key, "format"), FORMATS)
    if fmt is None:
        section.fail(key, 'missing required key "format" ("inline-toml" or "json")')
    accepted = ("format", "contents") if fmt == "inline-toml" else ("format", "file")
    for extra in table:
        if extra not in accepted:
            section.fail(
                (*key, extra),
                f'unknown key "{extra}" for format "{fmt}" (accepted keys: {", ".join(accepted)})',
            )
    if fmt == "inline-toml":
        if "contents" not in table:
            section.fail(key, 'missing required key "contents" (a table of strings)')
        contents = section.table(table["contents"], (*key, "contents"))
        for item, item_value in contents.items():
            item_key = (*key, "contents", item)
            if not isinstance(item_value, str):
                section.fail(item_key, f"expected a string, got {kind_of(item_value)}")
            problem = _limit_problem(item, item_value)
            if problem:
                section.fail(item_key, problem)
        return ConfigStoreConfig(name, fmt, MappingProxyType(dict(contents)))

    file_key = (*key, "file")
    relative = section.file_name(table, file_key)
    path = section.resolve(relative)

    def fail(problem: str) -> NoReturn:
        section.fail(file_key, problem)

    _check_json(path, section.read_json_object(file_key, relative), fail)
    err = section.error(file_key, "")
    return ConfigStoreConfig(
        name, fmt, file=path, _origin=(err.path, err.key, err.line, err.column)
    )


def _check_json(path: Path, data: dict[str, Any], fail: Any) -> dict[str, str]:
    for item, value in data.items():
        if not isinstance(value, str):
            fail(f'"{path}": value of "{item}" must be a string, not {json_kind(value)}')
        problem = _limit_problem(item, value)
        if problem:
            fail(f'"{path}": {problem}')
    return data


def _limit_problem(key: str, value: str) -> str | None:
    if len(key) > KEY_MAX_CHARS:
        return f'key "{key[:40]}..." is {len(key)} characters long; the limit is {KEY_MAX_CHARS}'
    if len(value) > VALUE_MAX_CHARS:
        return f'value of "{key}" is {len(value)} characters long; the limit is {VALUE_MAX_CHARS}'
    return None
