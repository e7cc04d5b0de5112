"""Shared parsing state: typed getters and one-line errors that name file, key path and line."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from compute_emu.errors import ManifestError

from .files import DATA_FILE_MAX_BYTES, path_problem, read_file
from .locate import KeyPath, locate, render_key

# C0 controls, DEL and C1 controls: never printed raw (a manifest could move the cursor or
# start a new line in the terminal with them)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters written as escapes (``\\n``, ``\\x1b``): one line."""
    return _CONTROL.sub(lambda m: json.dumps(m.group())[1:-1].replace("\\u00", "\\x"), text)


def quoted(name: str) -> str:
    """A key or name for a message: in double quotes, with escapes where needed."""
    return json.dumps(name, ensure_ascii=False)


def describe(value: object) -> str:
    """A TOML-flavoured description of a value's type, for messages."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a float ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a date/time ({value})"


def unknown_key_problem(name: str, accepted: Iterable[str]) -> str:
    """``unknown key "x"; did you mean "y"? (accepted keys: ...)``."""
    accepted = list(accepted)
    problem = f"unknown key {quoted(name)}"
    close = difflib.get_close_matches(name, accepted, n=1, cutoff=0.6)
    if not close and len(name) >= 3:  # abbreviations: "cert" -> "certificate"
        close = [key for key in accepted if key.startswith(name)]
    if close:
        problem += f'; did you mean "{close[0]}"?'
    return problem + f" (accepted keys: {', '.join(accepted)})"


class Context:
    """The file being parsed: where errors point and where relative paths resolve."""

    def __init__(self, text: str, path: Path, project_dir: Path) -> None:
        self.text = text
        self.path = path
        self.project_dir = project_dir
        self.warnings: list[str] = []

    def position(self, key: KeyPath) -> tuple[int | None, int | None]:
        """Best-effort ``(line, column)`` of ``key`` in the file."""
        return locate(self.text, key) or (None, None)

    def error(self, key: KeyPath, problem: str) -> ManifestError:
        """A ``ManifestError`` for ``key`` (raise it)."""
        line, column = self.position(key)
        return ManifestError(
            str(self.path), render_key(key), printable(problem), line=line, column=column
        )

    def fail(self, key: KeyPath, problem: str) -> NoReturn:
        raise self.error(key, problem)

    def warn(self, key: KeyPath, problem: str) -> None:
        """Record a non-fatal note, formatted like an error."""
        self.warnings.append(str(self.error(key, problem)))

    def check_keys(self, table: Mapping[str, Any], key: KeyPath, accepted: Iterable[str]) -> None:
        """Fail on the first key of ``table`` not in ``accepted``."""
        accepted = tuple(accepted)
        for name in table:
            if name not in accepted:
                self.fail((*key, name), unknown_key_problem(name, accepted))

    def table(self, value: Any, key: KeyPath) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, got {describe(value)}")
        return value

    def string(
        self, table: Mapping[str, Any], key: KeyPath, *, nonempty: bool = False
    ) -> str | None:
        """``table[key[-1]]`` as a string, ``None`` if absent."""
        value = table.get(str(key[-1]))
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {describe(value)}")
        if nonempty and not value.strip():
            self.fail(key, "must not be empty")
        return value

    def boolean(self, table: Mapping[str, Any], key: KeyPath, default: bool) -> bool:
        value = table.get(str(key[-1]), default)
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {describe(value)}")
        return value

    def integer(self, table: Mapping[str, Any], key: KeyPath) -> int | None:
        value = table.get(str(key[-1]))
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected an integer, got {describe(value)}")
        return value

    def path_string(self, table: Mapping[str, Any], key: KeyPath) -> str | None:
        """``table[key[-1]]``, a string naming a file or a command (``None`` if absent):
        refused with a one-line error if no system call could take it (see
        :func:`~.files.path_problem`)."""
        value = self.string(table, key)
        if value:
            problem = path_problem(str(self.resolve(value)))
            if problem is not None:
                self.fail(key, problem)
        return value

    def resolve(self, relative: str) -> Path:
        """A path from the manifest, resolved against the project directory."""
        return self.project_dir / relative

    def read_text(self, key: KeyPath, relative: str) -> str:
        """Read a file named at ``key``; errors name the key and the resolved path."""
        if not relative.strip():
            self.fail(key, "file name must not be empty")
        resolved = self.resolve(relative)
        try:
            return read_file(resolved, DATA_FILE_MAX_BYTES).decode("utf-8")
        except UnicodeDecodeError:
            self.fail(key, f'cannot read "{resolved}": not UTF-8 text')
        except OSError as exc:
            self.fail(key, f'cannot read "{resolved}": {exc.strerror or exc}')
