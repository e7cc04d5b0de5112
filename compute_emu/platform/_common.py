"""Shared helpers for parsing ``[local_server]`` sections: one-line errors, files, JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

from compute_emu.errors import ManifestError
from compute_emu.manifest._context import Context, printable
from compute_emu.manifest.files import DATA_FILE_MAX_BYTES, MAX_NESTING, nesting_problem, read_file
from compute_emu.manifest.locate import KeyPath, string_end
from compute_emu.manifest.model import Manifest

__all__ = ["KeyPath", "Section", "kind_of"]


def kind_of(value: object) -> str:
    """The TOML/JSON type of ``value`` without its contents (safe for secrets)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


def _one_line(text: str) -> str:
    return printable(" ".join(str(text).split()))


class Section:
    """Parsing state for the ``[local_server]`` sections of one manifest.

    Errors are ``ManifestError``s naming the manifest, the key path and (where ``locate`` finds
    it) the line; a problem inside a referenced file also names the file's resolved path.
    """

    def __init__(self, manifest: Manifest) -> None:
        try:
            data = read_file(manifest.path, DATA_FILE_MAX_BYTES, "fastly.toml")
            text = data.decode("utf-8").removeprefix("\ufeff")
        except (OSError, UnicodeDecodeError):
            text = ""  # positions are best effort
        self.ctx = Context(text, manifest.path, manifest.project_dir)
        self.warnings: list[str] = []

    def error(self, key: KeyPath, problem: str) -> ManifestError:
        err = self.ctx.error(key, _one_line(problem))
        position = self._element_position(key)
        if position is not None:
            err = ManifestError(
                err.path, err.key, err.problem, line=position[0], column=position[1]
            )
        return err

    def _element_position(self, key: KeyPath) -> tuple[int, int] | None:
        """Where element ``N`` of ``name = [...]`` starts, for a key path ``...name[N]...``."""
        index = next((i for i, part in enumerate(key) if isinstance(part, int)), None)
        if index is None or index == 0:
            return None
        line, _ = self.ctx.position(key[:index])
        if line is None:
            return None
        element = key[index]
        assert isinstance(element, int)
        return array_element_position(self.ctx.text, line, element)

    def fail(self, key: KeyPath, problem: str) -> NoReturn:
        raise self.error(key, problem)

    def warn(self, key: KeyPath, problem: str) -> None:
        self.warnings.append(str(self.error(key, problem)))

    def resolve(self, relative: str) -> Path:
        return self.ctx.resolve(relative)

    def table(self, value: Any, key: KeyPath, hint: str = "") -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, got {kind_of(value)}{hint}")
        return value

    def string(self, table: dict[str, Any], key: KeyPath, *, required: bool = False) -> str | None:
        """``table[key[-1]]`` as a string (``None`` if absent); never shows the value."""
        name = str(key[-1])
        if name not in table:
            if required:
                self.fail(key[:-1], f'missing required key "{name}"')
            return None
        value = table[name]
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {kind_of(value)}")
        return value

    def file_name(self, table: dict[str, Any], key: KeyPath) -> str:
        """A required, non-empty ``file`` entry."""
        name = self.string(table, key, required=True)
        assert name is not None
        if not name.strip():
            self.fail(key, "file name must not be empty")
        return name

    def format(self, table: dict[str, Any], key: KeyPath, accepted: tuple[str, ...]) -> str | None:
        """The ``format`` entry: one of ``accepted`` (``None`` if absent)."""
        value = self.string(table, key)
        if value is None:
            return None
        if value not in accepted:
            wanted = " or ".join(f'"{a}"' for a in accepted)
            shown = '""' if not value else json.dumps(value)
            self.fail(key, f"unknown format {shown}; expected {wanted}")
        return value

    def read_bytes(self, key: KeyPath, relative: str) -> bytes:
        """Read a file named at ``key``; errors name the key and the resolved path."""
        resolved = self.resolve(relative)
        try:
            return read_file(resolved, DATA_FILE_MAX_BYTES)
        except OSError as exc:
            self.fail(key, f'cannot read "{resolved}": {exc.strerror or exc}')

    def read_json_object(self, key: KeyPath, relative: str) -> dict[str, Any]:
        """A JSON file that must hold an object."""
        return json_object(self.resolve(relative), lambda problem: self.fail(key, problem))

    def named_tables(
        self, local_server: Mapping[str, Any], aliases: tuple[str, ...], what: str
    ) -> Iterator[tuple[KeyPath, str, Any]]:
        """``(key path, name, value)`` of each store under any of its section names (e.g.
        ``config_stores`` and the older ``dictionaries``); a name defined twice is an error."""
        seen: dict[str, str] = {}
        for alias in aliases:
            if alias not in local_server:
                continue
            key: KeyPath = ("local_server", alias)
            for name, value in self.table(local_server[alias], key).items():
                if name in seen:
                    self.fail(
                        (*key, name),
                        f'{what} "{name}" is also defined in local_server.{seen[name]}',
                    )
                seen[name] = alias
                yield (*key, name), name, value

    def in_file(self, key: KeyPath, relative: str, where: str, problem: str) -> NoReturn:
        """Fail for ``where`` (a JSON path such as ``"cat"`` or ``entries[2].prefix``) in a file."""
        self.fail(key, f'"{self.resolve(relative)}": {where}: {problem}')


def json_object(path: Path, fail: Any) -> dict[str, Any]:
    """Read ``path`` as a JSON object, calling ``fail(problem)`` (which raises) otherwise."""
    try:
        text = read_file(path, DATA_FILE_MAX_BYTES).decode("utf-8")
    except UnicodeDecodeError:
        fail(f'cannot read "{path}": not UTF-8 text')
    except OSError as exc:
        fail(f'cannot read "{path}": {exc.strerror or exc}')
    data = load_json(text, path, fail)
    if not isinstance(data, dict):
        fail(f'"{path}" must hold a JSON object ({{...}}), not {_json_kind(data)}')
    return data


def load_json(text: str, path: Path, fail: Any) -> Any:
    """``json.loads``, refusing documents nested more than ``MAX_NESTING`` deep."""
    too_deep = f'"{path}" is not usable JSON: nested more than {MAX_NESTING} levels deep'
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f'"{path}" is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})')
    except RecursionError:  # json recurses on nested arrays and objects
        fail(too_deep)
    if nesting_problem(data) is not None:
        fail(too_deep)
    return data


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def json_kind(value: object) -> str:
    """The JSON type of ``value`` (``an object`` for dicts), without its contents."""
    return "an object" if isinstance(value, dict) else _json_kind(value)


def array_element_position(text: str, line: int, index: int) -> tuple[int, int] | None:
    """1-based ``(line, column)`` of element ``index`` of the array assigned on ``line``.

    Best effort for ``key = [ {...}, {...} ]`` spread over lines: tracks brackets, single-line
    strings and comments; ``None`` if the shape is not recognised.
    """
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return None
    equals = lines[line - 1].find("=")
    if equals < 0:
        return None
    depth, count, expecting = 0, -1, False
    row, col = line - 1, equals + 1
    while row < len(lines):
        current = lines[row]
        while col < len(current):
            char = current[col]
            if char == "#":
                break
            if depth == 0:
                if char == "[":
                    depth, expecting = 1, True
                elif not char.isspace():
                    return None
                col += 1
                continue
            if depth == 1 and expecting and not char.isspace() and char not in ",]":
                count += 1
                expecting = False
                if count == index:
                    return row + 1, col + 1
            if char in "\"'":
                col = string_end(current, col)
                continue
            if char in "[{":
                depth += 1
            elif char in "]}":
                depth -= 1
                if depth == 0:
                    return None
            elif char == "," and depth == 1:
                expecting = True
            col += 1
        row, col = row + 1, 0
    return None
