"""GRIP instructions in an origin's response: which hold it asks for, on which channels.

Pushpin reads ``Grip-Hold: stream | response`` and ``Grip-Channel: name[; param]…`` (comma
separated, and the header may repeat). compute-emu only reads them back (the console shows
which channel a held connection is on when the app itself is the GRIP origin); Pushpin
remains the one that acts on them.
"""

from __future__ import annotations

from collections.abc import Iterable

HOLD_MODES = frozenset({"stream", "response"})


def _channel_names(value: str) -> list[str]:
    names = []
    for part in value.split(","):
        name = part.split(";", 1)[0].strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1]
        if name:
            names.append(name)
    return names


def grip_hold(headers: Iterable[tuple[str, bytes]]) -> tuple[str, tuple[str, ...]] | None:
    """``(mode, channels)`` if the response asks Pushpin to hold the request, else None."""
    mode: str | None = None
    channels: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "grip-hold" and mode is None:
            mode = value.decode("latin-1").strip().lower()
        elif lowered == "grip-channel":
            channels += _channel_names(value.decode("latin-1"))
    if mode not in HOLD_MODES:
        return None
    return mode, tuple(dict.fromkeys(channels))
