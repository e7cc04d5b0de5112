"""tnetstrings (tnetstrings.info), the encoding of Pushpin's ZeroMQ messages: decoding only.

``LEN:DATA`` followed by a type tag: ``,`` bytes, ``#`` integer, ``^`` float, ``!`` boolean,
``~`` null, ``}`` dictionary (alternating keys and values), ``]`` list.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 32


class TnetstringError(ValueError):
    """The bytes are not a tnetstring."""


def decode(data: bytes) -> Any:
    """The value of ``data``, which must be exactly one tnetstring (bytes stay bytes)."""
    value, end = _value(data, 0, len(data), 0)
    if end != len(data):
        raise TnetstringError(f"{len(data) - end} bytes after the value")
    return value


def _value(data: bytes, pos: int, limit: int, depth: int) -> tuple[Any, int]:
    """The value at ``pos`` (its tag before ``limit``) and where the next one starts."""
    if depth > MAX_DEPTH:
        raise TnetstringError("nested too deeply")
    colon = data.find(b":", pos, pos + 10)
    if colon < 0 or not data[pos:colon].isdigit():
        raise TnetstringError(f"no length at byte {pos}")
    start = colon + 1
    end = start + int(data[pos:colon])
    if end >= limit:
        raise TnetstringError(f"the value at byte {pos} runs past the end")
    payload, tag = data[start:end], data[end : end + 1]
    if tag == b",":
        return payload, end + 1
    if tag == b"#":
        try:
            return int(payload), end + 1
        except ValueError:
            raise TnetstringError(f"bad integer {payload!r}") from None
    if tag == b"^":
        try:
            return float(payload), end + 1
        except ValueError:
            raise TnetstringError(f"bad float {payload!r}") from None
    if tag == b"!":
        if payload not in (b"true", b"false"):
            raise TnetstringError(f"bad boolean {payload!r}")
        return payload == b"true", end + 1
    if tag == b"~":
        if payload:
            raise TnetstringError("a null with a payload")
        return None, end + 1
    if tag in (b"]", b"}"):
        items = []
        inner = start
        while inner < end:
            colon = data.find(b":", inner, inner + 10)
            if colon > inner and data[inner:colon].isdigit():  # a string item, read here:
                stop = colon + 1 + int(data[inner:colon])  # Pushpin's dictionaries are
                if stop < end and data[stop] == 0x2C:  # mostly strings (one call fewer each)
                    items.append(data[colon + 1 : stop])
                    inner = stop + 1
                    continue
            item, inner = _value(data, inner, end, depth + 1)
            items.append(item)
        if inner != end:
            raise TnetstringError(f"the container at byte {pos} is malformed")
        if tag == b"]":
            return items, end + 1
        if len(items) % 2:
            raise TnetstringError(f"a dictionary at byte {pos} with a key and no value")
        keys = items[0::2]
        if not all(isinstance(key, bytes) for key in keys):
            raise TnetstringError(f"a dictionary at byte {pos} with a key that is not a string")
        return dict(zip(keys, items[1::2], strict=True)), end + 1
    raise TnetstringError(f"unknown type tag {tag!r} at byte {end}")
