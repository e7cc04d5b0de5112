"""Secret stores (``secret_stores``), as Viceroy reads them; values never leave this module in text.

Store and secret names are 1-255 bytes of ``[A-Za-z0-9_.-]``. Each store is an array of
``{key, data | file | env}`` tables (exactly one source; a missing environment variable gives an
empty secret, as Viceroy does, plus a warning) or ``{file = "...", format = "json"}`` naming a flat
string-to-string JSON object. No message, ``repr`` or log line built here contains a value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from compute_emu.sdk._names import secret_name_problem as name_problem

from ._common import KeyPath, Section, kind_of

SOURCES = ("data", "file", "env")


class SecretStore:
    """One secret store: name to plaintext bytes. ``repr`` lists names only."""

    def __init__(self, name: str, secrets: Mapping[str, bytes]) -> None:
        self.name = name
        self._secrets = dict(secrets)

    def get(self, name: str) -> bytes | None:
        return self._secrets.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._secrets

    def names(self) -> list[str]:
        return sorted(self._secrets)

    def __repr__(self) -> str:
        return f"SecretStore({self.name!r}, names={self.names()!r})"


def parse_secret_stores(
    section: Section, local_server: Mapping[str, Any], environ: Mapping[str, str]
) -> dict[str, SecretStore]:
    if "secret_stores" not in local_server:
        return {}
    key: KeyPath = ("local_server", "secret_stores")
    table = section.table(local_server["secret_stores"], key)
    stores = {}
    for name, value in table.items():
        problem = name_problem(name)
        if problem:
            section.fail((*key, name), f"invalid secret store name {name[:60]!r}: {problem}")
        stores[name] = SecretStore(name, _parse_store(section, (*key, name), value, environ))
    return stores


def _parse_store(
    section: Section, key: KeyPath, value: Any, environ: Mapping[str, str]
) -> dict[str, bytes]:
    if isinstance(value, list):
        secrets: dict[str, bytes] = {}
        for i, item in enumerate(value):
            name, secret = _parse_item(section, (*key, i), item, environ)
            secrets[name] = secret
        return secrets
    if not isinstance(value, dict):
        section.fail(
            key,
            f"expected an array of {{ key = ..., data | file | env = ... }} tables or "
            f'{{ file = "...", format = "json" }}, got {kind_of(value)}',
        )
    if "file" not in value or "format" not in value:
        section.fail(
            key,
            'a secret store table needs both "file" and "format" (format = "json"); '
            "for inline secrets write an array of { key = ..., data = ... } tables",
        )
    section.format(value, (*key, "format"), ("json",))
    file_key = (*key, "file")
    relative = section.file_name(value, file_key)
    raw = section.read_bytes(file_key, relative)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        # the decoder's message may quote the file's text: keep it out
        section.fail(file_key, f'"{section.resolve(relative)}" is not valid UTF-8 JSON')
    if not isinstance(data, dict):
        section.fail(file_key, f'"{section.resolve(relative)}" must hold a JSON object of strings')
    secrets = {}
    for name, secret in data.items():
        problem = name_problem(name)
        if problem:
            section.in_file(file_key, relative, f"secret {name[:60]!r}", problem)
        if not isinstance(secret, str):
            section.in_file(file_key, relative, f'"{name}"', "the value must be a string")
        secrets[name] = secret.encode("utf-8")
    return secrets


def _parse_item(
    section: Section, key: KeyPath, item: Any, environ: Mapping[str, str]
) -> tuple[str, bytes]:
    table = section.table(item, key, hint=" (write { key = ..., data | file | env = ... })")
    name = section.string(table, (*key, "key"), required=True)
    assert name is not None
    problem = name_problem(name)
    if problem:
        section.fail((*key, "key"), f"invalid secret name {name[:60]!r}: {problem}")
    given = [source for source in SOURCES if source in table]
    if not given:
        section.fail(key, f'secret "{name}" needs one of "data", "file" or "env"')
    if len(given) > 1:
        section.fail(
            (*key, given[1]),
            f'secret "{name}": give only one of "data", "file" or "env" '
            f"(got {' and '.join(given)})",
        )
    source = given[0]
    if not isinstance(table[source], str):
        # never show the value: it may be the secret itself
        section.fail((*key, source), f"expected a string, got {kind_of(table[source])}")
    text: str = table[source]
    if source == "data":
        return name, text.encode("utf-8")
    if source == "file":
        relative = section.file_name(table, (*key, "file"))
        return name, section.read_bytes((*key, "file"), relative)
    if not text:
        section.fail((*key, "env"), "environment variable name must not be empty")
    if text not in environ:
        section.warn(
            (*key, "env"),
            f'environment variable {text} is not set; secret "{name}" is empty (as in Viceroy)',
        )
        return name, b""
    return name, environ[text].encode("utf-8", "surrogateescape")
