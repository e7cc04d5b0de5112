"""Pure helpers for the messages the server writes itself (no I/O): the ``Date`` value, reason
phrases, the headers of a small error response. Header hygiene and body framing are
:mod:`compute_emu.rules.framing`'s, imported from there.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from functools import cache
from http import HTTPStatus


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
