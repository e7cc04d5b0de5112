"""``HeaderMap``: an ordered, case-insensitive multi-map of HTTP header fields."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

# RFC 9110 §5.6.2: token = 1*tchar
_TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Like Rust's ``HeaderValue::from_bytes``: no control characters except HTAB (so no CR/LF/NUL).
_BAD_VALUE_BYTES = frozenset(range(0x20)) - {0x09} | {0x7F}


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid header name (an RFC 9110 token), else ``ValueError``."""
    if not isinstance(name, str):
        raise TypeError(f"header name must be str, not {type(name).__name__}: {name!r}")
    if not name or not name.isascii() or not _TCHAR.issuperset(name.encode("ascii")):
        raise ValueError(f"invalid header name {name!r}: must be a non-empty RFC 9110 token")
    return name


def to_value(name: str, value: str | bytes | bytearray) -> bytes:
    """Encode ``value`` (``str`` as UTF-8) and check it; ``ValueError`` names the header."""
    if isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, bytes | bytearray):
        data = bytes(value)
    else:
        kind = type(value).__name__
        raise TypeError(f"value of header {name!r} must be str or bytes, not {kind}")
    if _BAD_VALUE_BYTES.intersection(data):
        bad = next(byte for byte in data if byte in _BAD_VALUE_BYTES)
        what = {0x0D: "CR", 0x0A: "LF", 0x00: "NUL"}.get(bad, f"control byte {bad:#04x}")
        raise ValueError(f"invalid value for header {name!r}: contains {what}")
    return data


class HeaderMap:
    """Ordered, case-insensitive multi-map of header names to ``bytes`` values.

    Like Rust's ``http::HeaderMap``, all values of one name are kept together, in the order the
    name was first added; names keep the spelling they were first given (lookups ignore case).
    ``str`` values are encoded as UTF-8. Invalid names or values raise ``ValueError``.
    """

    __slots__ = ("_fields",)

    def __init__(self, items: Iterable[tuple[str, str | bytes]] = ()) -> None:
        # lowercased name -> (name as first given, values)
        self._fields: dict[str, tuple[str, list[bytes]]] = {}
        for name, value in items:
            self.append(name, value)

    # -- reading -------------------------------------------------------------------------
    def get(self, name: str) -> bytes | None:
        """The first value of ``name``, or ``None``."""
        field = self._fields.get(name.lower())
        return field[1][0] if field else None

    def get_all(self, name: str) -> list[bytes]:
        """All values of ``name`` in order (empty if absent)."""
        field = self._fields.get(name.lower())
        return list(field[1]) if field else []

    def contains(self, name: str) -> bool:
        """Whether ``name`` has at least one value."""
        return name.lower() in self._fields

    def names(self) -> list[str]:
        """Distinct names, as first given, in order."""
        return [name for name, _ in self._fields.values()]

    def items(self) -> list[tuple[str, bytes]]:
        """Every ``(name, value)`` pair in order; a name repeats once per value."""
        return [(name, value) for name, values in self._fields.values() for value in values]

    # -- writing -------------------------------------------------------------------------
    def set(self, name: str, value: str | bytes) -> None:
        """Replace all values of ``name`` with ``value`` (keeps the name's place and spelling)."""
        key = check_name(name).lower()
        data = to_value(name, value)
        field = self._fields.get(key)
        if field is None:
            self._fields[key] = (name, [data])
        else:
            field[1][:] = [data]

    def append(self, name: str, value: str | bytes) -> None:
        """Add ``value`` after any existing values of ``name``."""
        key = check_name(name).lower()
        data = to_value(name, value)
        field = self._fields.get(key)
        if field is None:
            self._fields[key] = (name, [data])
        else:
            field[1].append(data)

    def remove(self, name: str) -> list[bytes]:
        """Remove every value of ``name``; returns them (empty if absent)."""
        field = self._fields.pop(name.lower(), None)
        return field[1] if field else []

    def clear(self) -> None:
        """Remove all headers."""
        self._fields.clear()

    def copy(self) -> HeaderMap:
        """An independent copy."""
        new = HeaderMap()
        new._fields = {key: (name, list(values)) for key, (name, values) in self._fields.items()}
        return new

    # -- dunders -------------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.contains(name)

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        return iter(self.items())

    def __len__(self) -> int:
        """Number of values (not distinct names)."""
        return sum(len(values) for _, values in self._fields.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HeaderMap):
            return NotImplemented
        mine = {key: values for key, (_, values) in self._fields.items()}
        theirs = {key: values for key, (_, values) in other._fields.items()}
        return mine == theirs

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"HeaderMap({self.items()!r})"
