"""Pure helpers for HTTP/1.1 message framing and header hygiene (no I/O)."""

from __future__ import annotations

import time
from email.utils import formatdate
from functools import cache
from http import HTTPStatus

# RFC 9110 §7.6.1 hop-by-hop fields, plus framing we always rebuild ourselves.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
FRAMING = frozenset({"content-length", "transfer-encoding"})


def connection_tokens(headers: list[tuple[str, bytes]]) -> frozenset[str]:
    """Header names listed in ``Connection`` (they are hop-by-hop too)."""
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            tokens.update(t.strip().lower() for t in value.decode("latin-1").split(","))
    tokens.discard("")
    return frozenset(tokens)


def strip_headers(
    headers: list[tuple[str, bytes]], drop: frozenset[str]
) -> list[tuple[str, bytes]]:
    """``headers`` without the (lower-case) names in ``drop``."""
    return [(n, v) for n, v in headers if n.lower() not in drop]


def end_to_end(
    headers: list[tuple[str, bytes]], *, keep_upgrade: bool = False
) -> list[tuple[str, bytes]]:
    """Drop hop-by-hop and framing headers, including those named by ``Connection``."""
    drop = HOP_BY_HOP | FRAMING | connection_tokens(headers)
    if keep_upgrade:
        drop = drop - {"upgrade", "connection"}
    return strip_headers(headers, drop)


def header_value(headers: list[tuple[str, bytes]], name: str) -> bytes | None:
    """First value of ``name`` (case-insensitive), or None."""
    name = name.lower()
    for n, v in headers:
        if n.lower() == name:
            return v
    return None


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


def raw_headers(headers: list[tuple[str, bytes]]) -> list[tuple[bytes, bytes]]:
    """Header pairs as h11 wants them."""
    return [(name.encode("latin-1"), value) for name, value in headers]
