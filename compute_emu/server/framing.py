"""Pure helpers for the server's HTTP/1.1 messages (no I/O).

The header and framing rules live in :mod:`compute_emu.rules.framing`; they are re-exported
here under the names the server has always used.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from functools import cache
from http import HTTPStatus

from ..rules.framing import (
    FRAMING,
    HOP_BY_HOP,
    connection_tokens,
    end_to_end,
    header_value,
    raw_headers,
    strip_headers,
)

__all__ = [
    "FRAMING",
    "HOP_BY_HOP",
    "HttpDate",
    "connection_tokens",
    "end_to_end",
    "error_response_headers",
    "header_value",
    "raw_headers",
    "reason_phrase",
    "strip_headers",
]


class HttpDate:
    """An IMF-fixdate for the ``Date`` header, formatted at most once a second."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def __call__(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = formatdate(now, usegmt=True).encode()
        return self._value


def error_response_headers(length: int, date: bytes) -> list[tuple[str, bytes]]:
    """Headers for a small plain-text error response that closes the connection."""
    return [
        ("content-type", b"text/plain; charset=utf-8"),
        ("content-length", str(length).encode()),
        ("date", date),
        ("connection", b"close"),
    ]


@cache
def reason_phrase(status: int) -> bytes:
    """The standard reason phrase for ``status`` (empty for unknown codes)."""
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
