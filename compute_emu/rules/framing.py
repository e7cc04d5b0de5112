"""HTTP/1.1 message framing and header hygiene (RFC 9110 §7.6.1, RFC 9112 §6).

Headers are ``(name, value)`` pairs with ``str`` names (any case) and ``bytes`` values, in
wire order. How a body is delimited is decided in one place, :func:`declared_framing`, and
carried as a :class:`Framing` value; a message whose body length cannot be told safely is
refused with :class:`FramingError`: both ``Content-Length`` and ``Transfer-Encoding``,
Content-Length values that are not digits or disagree, or a transfer coding other than
``chunked``. :func:`framing_headers` is the one way compute-emu spells a framing it sends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Headers = list[tuple[str, bytes]]

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
_CONNECTION = frozenset({"connection", b"connection"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # always say how long the body is
MAX_LENGTH_DIGITS = 18  # longer Content-Length values are refused (no int overflow anywhere)
_DIGITS = re.compile(rb"[0-9]{1,%d}" % MAX_LENGTH_DIGITS)


class FramingError(ValueError):
    """A message whose body length cannot be told safely; it must be refused. ``status`` is
    what a server answers such a request: 400, or 501 for a transfer coding it does not
    implement (RFC 9112 §6.1)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Framing:
    """How a message body is delimited on the wire.

    ``none``: no body; ``length``: ``length`` bytes; ``chunked``: chunked coding;
    ``close``: until the connection closes (responses only).
    """

    kind: Literal["none", "length", "chunked", "close"]
    length: int = 0


NO_BODY = Framing("none")
CHUNKED = Framing("chunked")


def connection_tokens(
    headers: Iterable[tuple[str, bytes]] | Iterable[tuple[bytes, bytes]],
) -> frozenset[str]:
    """The options of every ``Connection`` line, lower-cased (RFC 9110 §7.6.1: a list of
    case-insensitive tokens; ``close`` among them ends the connection, the others name
    hop-by-hop headers). Names may be ``str`` or ``bytes``, in any case. The one place a
    ``Connection`` value is read: ``x-no-close-please`` is not ``close``."""
    found = _NO_TOKENS
    for name, value in headers:
        if name.lower() in _CONNECTION:
            found = found | _options(value) if found else _options(value)
    return found


_NO_TOKENS: frozenset[str] = frozenset()


@lru_cache(maxsize=256)  # a few values (keep-alive, close, Upgrade) are most of them
def _options(value: bytes) -> frozenset[str]:
    tokens = (token.strip(" \t").lower() for token in value.decode("latin-1").split(","))
    return frozenset(token for token in tokens if token)


def strip_headers(headers: Headers, drop: frozenset[str]) -> Headers:
    """``headers`` without the (lower-case) names in ``drop``."""
    return [(n, v) for n, v in headers if n.lower() not in drop]


def end_to_end(headers: Headers, *, keep_upgrade: bool = False) -> Headers:
    """Drop hop-by-hop and framing headers, including those named by ``Connection``."""
    drop = HOP_BY_HOP | FRAMING | connection_tokens(headers)
    if keep_upgrade:
        drop = drop - {"upgrade", "connection"}
    return strip_headers(headers, drop)


def header_value(headers: Headers, name: str) -> bytes | None:
    """First value of ``name`` (case-insensitive), or None."""
    name = name.lower()
    for n, v in headers:
        if n.lower() == name:
            return v
    return None


def raw_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    """Header pairs as h11 wants them."""
    return [(name.encode("latin-1"), value) for name, value in headers]


def declared_framing(lengths: list[bytes], codings: list[bytes]) -> Framing | None:
    """The framing a message declares (RFC 9112 §6.3), from the values of its Content-Length
    and of its Transfer-Encoding lines, in order; None when it has neither. The one place
    the rule is written: both codecs, ``send()`` and the handoffs ask it.

    Refused (:class:`FramingError`): both headers (§6.3 item 3: a server may refuse, and
    must not keep the connection); a coding other than exactly ``chunked`` (§6.1; 501),
    empty list items included; Content-Length values that differ (``5, 05`` too, as h11) or
    are not 1-18 digits. Equal values are one (``5, 5``, or two ``5`` lines: RFC 9110 §8.6).
    """
    if codings:
        if lengths:
            raise FramingError("both Content-Length and Transfer-Encoding")
        items = [item.strip(b" \t").lower() for value in codings for item in value.split(b",")]
        if items != [b"chunked"]:
            raise FramingError("a Transfer-Encoding other than chunked", 501)
        return CHUNKED
    if not lengths:
        return None
    values = {item.strip(b" \t") for value in lengths for item in value.split(b",")}
    if len(values) > 1:
        raise FramingError("conflicting Content-Length values")
    value = values.pop()
    if not _DIGITS.fullmatch(value):
        raise FramingError(f"invalid Content-Length {value[:40]!r}")
    return Framing("length", int(value))


def _framing_values(headers: Headers) -> tuple[list[bytes], list[bytes]]:
    lengths: list[bytes] = []
    codings: list[bytes] = []
    for name, value in headers:
        lower = name.lower()
        if lower == "content-length":
            lengths.append(value)
        elif lower == "transfer-encoding":
            codings.append(value)
    return lengths, codings


def content_length(headers: Headers) -> int | None:
    """The declared Content-Length, or None (none, or chunked); raises :class:`FramingError`
    as :func:`declared_framing` does."""
    framing = declared_framing(*_framing_values(headers))
    return framing.length if framing is not None and framing.kind == "length" else None


def request_framing(headers: Headers) -> Framing:
    """How a request's body is delimited (RFC 9112 §6.3); raises FramingError."""
    return declared_framing(*_framing_values(headers)) or NO_BODY


def response_framing(status: int, request_method: str, headers: Headers) -> Framing:
    """How a response's body is delimited (RFC 9112 §6.3); raises FramingError.

    The headers are checked even where no body follows (1xx, 204, 304, HEAD): a message
    with both framings is refused whatever it answers.
    """
    declared = declared_framing(*_framing_values(headers))
    if status < 200 or status in (204, 304) or request_method == "HEAD":
        return NO_BODY
    return declared or Framing("close")


def framing_headers(framing: Framing) -> Headers:
    """The one way compute-emu spells a body's framing on the wire: ``content-length: N``,
    ``transfer-encoding: chunked`` or nothing (``none``, and ``close``, which only a
    response can be and which no header says)."""
    if framing.kind == "length":
        return [("content-length", str(framing.length).encode())]
    if framing.kind == "chunked":
        return [("transfer-encoding", b"chunked")]
    return []


def body_headers(method: str, length: int | None) -> Headers:
    """The framing headers for a request body we send: ``Content-Length`` when the length is
    known (and either non-zero or a method that carries a body), else chunked."""
    if length is None:
        return framing_headers(CHUNKED)
    if length > 0 or method in BODY_METHODS:
        return framing_headers(Framing("length", length))
    return []


def manual_framing(
    headers: Iterable[tuple[str, bytes]], length: int | None
) -> tuple[str, bytes] | None:
    """A message's own framing header, for ``FramingHeadersMode.ManuallyFromHeaders``, when it
    is valid for a body of ``length`` bytes (``None``: not known yet): one all-digit
    ``Content-Length`` equal to it, or ``Transfer-Encoding: chunked`` alone. ``None``
    otherwise: the message is framed automatically, as Viceroy falls back."""
    encoding = [v for n, v in headers if n.lower() == "transfer-encoding"]
    declared = [v for n, v in headers if n.lower() == "content-length"]
    if encoding and not declared and [v.strip().lower() for v in encoding] == [b"chunked"]:
        return ("transfer-encoding", b"chunked")
    valid = not encoding and len(declared) == 1 and declared[0].strip().isdigit()
    if valid and (length is None or int(declared[0]) == length):
        return ("content-length", declared[0].strip())
    return None
