"""A model of how Pushpin reads one routes-file line, for checking what we write.

Written from the behaviour of Pushpin's routes-file line parser (``src/proxy/routesfile.cpp``,
unchanged from 1.36 to 1.41): sections are separated by spaces, properties by commas, ``#``
outside quotes ends the line, ``"..."`` quotes any part of a token (inside, only ``\\\\`` and
``\\"`` are escapes), and a first section containing ``=`` has an empty value and is read as
properties (``id=name``).
"""

from __future__ import annotations

Section = tuple[str, dict[str, str]]


class RouteSyntaxError(ValueError):
    """Pushpin would skip the line with a warning."""


def _find(line: str, chars: str, start: int) -> int:
    return next((i for i in range(start, len(line)) if line[i] in chars), -1)


def _token(line: str, i: int) -> tuple[str, int]:
    """The token starting at ``i`` (quotes decoded) and the index of what ended it."""
    part = ""
    while True:
        at = _find(line, '", #', i)
        if at == -1 or line[at] != '"':
            end = len(line) if at == -1 else at
            return part + line[i:end], end
        part += line[i:at]
        at += 1
        while at < len(line) and line[at] != '"':
            if line[at] == "\\":
                at += 1
                if at >= len(line) or line[at] not in '\\"':
                    raise RouteSyntaxError("bad escape")
            part += line[at]
            at += 1
        if at >= len(line):
            raise RouteSyntaxError("unterminated quote")
        i = at + 1


def parse_route_line(line: str) -> list[Section]:
    """``[(value, {prop: value}), ...]`` as Pushpin reads ``line``."""
    sections: list[Section] = []
    i = 0
    state = "separator"
    while True:
        if state == "separator":
            while i < len(line) and line[i] == " ":
                i += 1
            if i >= len(line) or line[i] == "#":
                return sections
            state = "value"
        part, at = _token(line, i)
        if state == "value":
            if "=" in part:  # no value: the section starts with properties
                sections.append(("", {}))
                state = "prop"
                continue
            sections.append((part, {}))
        else:
            name, _, value = part.partition("=")
            if not part or not name:
                raise RouteSyntaxError("expecting prop")
            sections[-1][1][name] = value
        if at < len(line) and line[at] == ",":
            i, state = at + 1, "prop"
        else:
            i, state = at, "separator"
