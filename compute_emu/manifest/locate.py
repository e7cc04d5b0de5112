"""Dotted key paths: render them for messages and find where they are written in TOML text.

Best effort: tomllib does not report positions, so ``locate`` scans the (already valid) text
for table headers and ``key =`` lines, skipping multi-line strings, arrays and inline tables.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator

#: A key path: table keys, with array indexes as ints, e.g. ``("scripts", "env_vars", 0)``.
KeyPath = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def render_key(key: KeyPath) -> str:
    """``local_server.backends."my.origin".ca_certificate[1]``."""
    out = ""
    for part in key:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if _BARE.fullmatch(part) else _quote_key(part)
        out += f".{text}" if out else text
    return out


def _quote_key(part: str) -> str:
    """A JSON-quoted key, with DEL and C1 controls escaped too (``json`` leaves them)."""
    quoted = json.dumps(part, ensure_ascii=False)
    return re.sub(r"[\x7f-\x9f]", lambda m: f"\\x{ord(m.group()):02x}", quoted)


def locate(text: str, key: KeyPath) -> tuple[int, int] | None:
    """1-based ``(line, column)`` where ``key`` is defined, or of its closest enclosing definition.

    Exact matches win. Otherwise a ``key = {...}``/``key = [...]`` line whose value contains the
    target, or the header of the table directly holding it, is used; ``None`` if neither exists.
    """
    target = tuple(p for p in key if isinstance(p, str))
    if not target:
        return None
    best: tuple[int, int] | None = None
    best_len = 0
    table: tuple[str, ...] = ()
    for lineno, line in _statements(text):
        indent = len(line) - len(line.lstrip())
        stripped = line[indent:]
        if stripped.startswith("["):
            start = indent + (2 if stripped.startswith("[[") else 1)
            parsed = _parse_keys(line, start)
            if parsed is None or not line[parsed[1] :].startswith("]"):
                continue
            table = path = parsed[0]
            contains = len(path) == len(target) - 1
        else:
            parsed = _parse_keys(line, indent)
            if parsed is None or not line[parsed[1] :].startswith("="):
                continue
            path = table + parsed[0]
            contains = True
        if path == target:
            return lineno, indent + 1
        if contains and target[: len(path)] == path and len(path) > best_len:
            best_len = len(path)
            inner = re.search(rf"(?<![\w\"'-]){re.escape(target[-1])}\s*=", line[parsed[1] :])
            column = parsed[1] + inner.start() + 1 if inner else indent + 1
            best = (lineno, column)
    return best


def _statements(text: str) -> Iterator[tuple[int, str]]:
    """Lines that start a TOML statement (not inside a multi-line string or bracket)."""
    mode: str | None = None  # '"""' or "'''" while inside a multi-line string
    depth = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        if mode is None and depth == 0:
            yield lineno, line
        mode, depth, _ = _advance(line, mode, depth)


def nesting_position(text: str, limit: int) -> tuple[int, int] | None:
    """1-based ``(line, column)`` of the first bracket nested more than ``limit`` deep.

    A scan of the text (strings and comments skipped), for refusing documents that Python's
    recursive TOML parser could not read; ``None`` if the nesting stays within ``limit``.
    """
    mode: str | None = None
    depth = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        mode, depth, over = _advance(line, mode, depth, limit)
        if over >= 0:
            return lineno, over + 1
    return None


def _advance(
    line: str, mode: str | None, depth: int, limit: int | None = None
) -> tuple[str | None, int, int]:
    """State after ``line``: string mode, bracket depth, and where ``limit`` was passed (-1)."""
    i = 0
    n = len(line)
    while i < n:
        c = line[i]
        if mode is not None:
            if c == "\\" and mode == '"""':
                i += 2
            elif line.startswith(mode, i):
                mode = None
                i += 3
            else:
                i += 1
        elif c == "#":
            break
        elif line.startswith('"""', i) or line.startswith("'''", i):
            mode = line[i : i + 3]
            i += 3
        elif c in "\"'":
            i = string_end(line, i)
        else:
            if c in "[{":
                depth += 1
                if limit is not None and depth > limit:
                    return mode, depth, i
            elif c in "]}":
                depth = max(0, depth - 1)
            i += 1
    return mode, depth, -1


def string_end(line: str, i: int) -> int:
    """Index just past the single-line string starting at ``line[i]``."""
    quote = line[i]
    i += 1
    while i < len(line):
        if line[i] == "\\" and quote == '"':
            i += 2
            continue
        if line[i] == quote:
            return i + 1
        i += 1
    return i


def _parse_keys(line: str, pos: int) -> tuple[tuple[str, ...], int] | None:
    """Parse a dotted key at ``pos``; return its parts and the position after it (and spaces)."""
    parts: list[str] = []
    while True:
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        if pos < len(line) and line[pos] in "\"'":
            end = string_end(line, pos)
            raw = line[pos:end]
            if raw[0] == "'":
                parts.append(raw[1:-1])
            else:
                try:
                    parts.append(tomllib.loads(f"k = {raw}")["k"])
                except tomllib.TOMLDecodeError:
                    return None
            pos = end
        else:
            match = _BARE.match(line, pos)
            if match is None:
                return None
            parts.append(match.group())
            pos = match.end()
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        if pos < len(line) and line[pos] == ".":
            pos += 1
            continue
        return tuple(parts), pos
