"""The HTTP/1.1 head grammar both codecs share (RFC 9112 §2-5; RFC 9110 §5.5, §5.6.2), sans-I/O.

Neither half owns it: :mod:`~compute_emu.rules.http1_server` reads request heads with it
and writes response heads, :mod:`~compute_emu.rules.http1_client` writes request heads and
reads response heads. The rules are stricter than RFC 9112 allows a recipient to be, where a
lenient parse could be read differently by the next hop:

- a head ends at the first empty line and is at most ``max_head`` bytes, complete or not;
- lines end in CRLF; a bare CR or LF anywhere in a head is an error (§2.2 lets a recipient
  accept a bare LF; refusing it is safe);
- a field line is a token, a colon, optional whitespace, then visible characters (and
  obs-text) with inner SP/HTAB: no whitespace before the colon (§5.1), no obs-fold (§5.2),
  no control character (NUL, DEL, a CR on its own) in a value;
- a request line is ``method SP request-target SP HTTP/d.d`` with single spaces and a target
  of visible ASCII; a status line ``HTTP/d.d SP ddd [SP reason]``.

Whatever a codec writes passes the same grammar (no request or response splitting through a
name, a value, a method or a target).
"""

from __future__ import annotations

import re
from functools import lru_cache

_SHOWN = 40  # bytes of an offending line or value an error shows

_TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
_TARGET = rb"[\x21-\x7e]+"  # visible ASCII: no SP, no CTL, no DEL, no obs-text
_VALUE = rb"(?:[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") (" + _TARGET + rb") HTTP/([0-9]\.[0-9])")
_STATUS_LINE = re.compile(rb"HTTP/([0-9]\.[0-9]) ([0-9]{3})(?: ([\t \x21-\x7e\x80-\xff]*))?")
# name, colon, optional whitespace, a value of visible characters and inner SP/HTAB
_FIELD = re.compile(rb"(" + _TOKEN + rb"):[ \t]*(" + _VALUE + rb")[ \t]*")
_NAME = re.compile(_TOKEN)
_VALUE_ONLY = re.compile(_VALUE)
_TARGET_ONLY = re.compile(_TARGET)


class ProtocolError(Exception):
    """The peer broke HTTP/1.1; a server answers ``status`` (400, 431, 501) and closes."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class LocalProtocolError(Exception):
    """We were about to break HTTP/1.1 (a bad header, target or method, a body longer or
    shorter than its Content-Length, an event the state does not allow)."""


def take_head(buffer: bytearray, search_from: int, max_head: int) -> bytes | None:
    """The next head in ``buffer`` (without its final CRLF CRLF, both removed from the
    buffer), or None while it is incomplete (look again from ``len(buffer) - 3``).

    Raises :class:`ProtocolError` (431) once the head passes ``max_head`` bytes, complete or
    not: a peer cannot make us buffer more by never ending it.
    """
    end = buffer.find(b"\r\n\r\n", search_from)
    if end < 0:
        if len(buffer) > max_head:
            raise ProtocolError(f"head larger than {max_head // 1024} KiB", 431)
        return None
    if end + 4 > max_head:
        raise ProtocolError(f"head larger than {max_head // 1024} KiB", 431)
    head = bytes(buffer[:end])
    del buffer[: end + 4]
    return head


def split_head(head: bytes) -> list[bytes]:
    """The lines of a head (its final CRLF CRLF removed); ProtocolError on a bare CR or LF."""
    line_ends = head.count(b"\r\n")
    if head.count(b"\n") != line_ends or head.count(b"\r") != line_ends:
        raise ProtocolError("a line of the head does not end in CRLF")
    return head.split(b"\r\n")


def parse_fields(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    """Header lines to (name, value) pairs; ProtocolError on obs-fold or a malformed line."""
    headers = []
    for line in lines:
        field = _FIELD.fullmatch(line)
        if field is None:
            if line[:1] in (b" ", b"\t"):
                raise ProtocolError("obsolete line folding in a header")
            raise ProtocolError(f"malformed header line {line[:_SHOWN]!r}")
        headers.append((field[1], field[2]))
    return headers


def parse_request_line(line: bytes) -> tuple[bytes, bytes, bytes]:
    """``(method, target, version)``; ProtocolError if it is not a request line."""
    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        raise ProtocolError(f"malformed request line {line[:_SHOWN]!r}")
    return match[1], match[2], match[3]


def parse_status_line(line: bytes) -> tuple[bytes, int, bytes]:
    """``(version, status, reason)``; ProtocolError if it is not a status line (a status is
    exactly three digits; which statuses are acceptable is the client's rule)."""
    match = _STATUS_LINE.fullmatch(line)
    if match is None:
        raise ProtocolError(f"malformed status line {line[:_SHOWN]!r}")
    return match[1], int(match[2]), match[3] or b""


def request_line(method: str, target: str) -> bytes:
    """An HTTP/1.1 request line; LocalProtocolError unless ``method`` is a token and
    ``target`` visible ASCII (no CR, LF, space or other control character: no request
    splitting, whatever the caller passes)."""
    raw_target = target.encode("utf-8")
    if not _TARGET_ONLY.fullmatch(raw_target):
        raise LocalProtocolError(
            f"invalid request target {target[:_SHOWN]!r}: a space, CR, LF, "
            "control or non-ASCII character"
        )
    return b"%s %s HTTP/1.1\r\n" % (_method(method), raw_target)


@lru_cache(maxsize=64)  # a handful of methods are nearly all of them
def _method(method: str) -> bytes:
    raw = method.encode("latin-1", "replace")
    if not _NAME.fullmatch(raw):
        raise LocalProtocolError(f"invalid request method {method[:_SHOWN]!r}")
    return raw


def serialize_head(first_line: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """A head's bytes; LocalProtocolError if a name or value could split the message."""
    parts = [first_line]
    for name, value in headers:
        if not _NAME.fullmatch(name) or not _VALUE_ONLY.fullmatch(value):
            raise LocalProtocolError(f"invalid header {name!r}: {value[:_SHOWN]!r}")
        parts.append(b"%b: %b\r\n" % (name, value))
    parts.append(b"\r\n")
    return b"".join(parts)
