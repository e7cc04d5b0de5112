"""HTTP/1.1 to an origin, sans-I/O: request bytes out, response events in.

:class:`ClientProtocol` is the client half of one connection to a backend or to Pushpin, one
exchange at a time: it replaces h11 in ``upstream/connection.py`` (the same job for ~a fifth
of the cost). Heads are read and written by the grammar both halves share
(:mod:`~compute_emu.rules.http1_head`: CRLF only, no obs-fold, no control characters; a
request target of visible ASCII) and the body's framing by :mod:`~compute_emu.rules.framing`:
a response with both Content-Length and Transfer-Encoding, or lengths that disagree, is a
:class:`ResponseError`, never a guess. Whether the connection may serve another request is
decided here too (:meth:`ClientProtocol.reusable`): never with unread bytes after a response.
"""

from __future__ import annotations

from dataclasses import dataclass

from .chunked import ChunkedError, ChunkedScanner, take_payload
from .framing import Framing, FramingError, connection_tokens, request_framing, response_framing
from .http1_head import (
    LocalProtocolError,
    ProtocolError,
    parse_fields,
    parse_status_line,
    request_line,
    serialize_head,
    split_head,
    take_head,
)
from .http1_state import CONNECTION_CLOSED, END_OF_MESSAGE, NEED_DATA

__all__ = [
    "CONNECTION_CLOSED",
    "END_OF_MESSAGE",
    "NEED_DATA",
    "ClientProtocol",
    "LocalProtocolError",
    "ResponseError",
    "ResponseHead",
]

MAX_HEAD = 100 * 1024


class ResponseError(Exception):
    """The origin broke HTTP/1.1. ``incomplete``: it closed mid-message; ``too_large``: the
    head passed its bound."""

    def __init__(self, message: str, *, incomplete: bool = False, too_large: bool = False):
        super().__init__(message)
        self.incomplete = incomplete
        self.too_large = too_large


@dataclass(slots=True)
class ResponseHead:
    """A parsed response head; header names as the origin spelled them."""

    status: int
    reason: bytes
    http_version: bytes
    headers: list[tuple[bytes, bytes]]


class ClientProtocol:
    """The client side of one HTTP/1.1 connection (see the module docstring)."""

    __slots__ = (
        "_body",
        "_buffer",
        "_chunked",
        "_eof",
        "_head_search",
        "_left",
        "_method",
        "_out_chunked",
        "_out_left",
        "_upgrade",
        "keep_alive",
        "max_head",
        "request_done",
        "response_done",
        "switched",
    )

    def __init__(self, max_head: int = MAX_HEAD) -> None:
        self.max_head = max_head
        self.keep_alive = True
        self.request_done = False
        self.response_done = False
        self.switched = False  # a 101 came: the bytes now belong to another protocol
        self._buffer = bytearray()
        self._eof = False
        self._head_search = 0
        self._method = "GET"
        self._body: Framing | None = None  # the response body's framing, once its head came
        self._left = 0
        self._chunked: ChunkedScanner | None = None
        self._out_chunked = False
        self._out_left: int | None = None
        self._upgrade = False  # the request asked for an upgrade: a 101 may come

    # -- sending ---------------------------------------------------------------------------
    def send_request(self, method: str, target: str, headers: list[tuple[str, bytes]]) -> bytes:
        """The request head; the body's framing is what ``headers`` declare."""
        try:
            framing = request_framing(headers)
        except FramingError as exc:
            raise LocalProtocolError(str(exc)) from None
        self._method = method
        self._out_chunked = framing.kind == "chunked"
        self._out_left = framing.length if framing.kind == "length" else None
        self.request_done = self.response_done = False
        self._body = None
        self._upgrade = False
        if "close" in connection_tokens(headers):
            self.keep_alive = False
        self._upgrade = any(name.lower() == "upgrade" for name, _ in headers)
        raw = [(name.encode("latin-1"), value) for name, value in headers]
        return serialize_head(request_line(method, target), raw)

    def send_data(self, data: bytes) -> bytes:
        """Frame one piece of the request body."""
        if not data:
            return b""
        if self._out_chunked:
            return b"%x\r\n%b\r\n" % (len(data), data)
        if self._out_left is None or len(data) > self._out_left:
            raise LocalProtocolError("too much data for the declared Content-Length")
        self._out_left -= len(data)
        return data

    def send_end(self) -> bytes:
        """End the request body."""
        if self._out_left:
            raise LocalProtocolError("too little data for the declared Content-Length")
        self.request_done = True
        return b"0\r\n\r\n" if self._out_chunked else b""

    # -- receiving -------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the origin; ``b""`` means it closed its side."""
        if data:
            self._buffer += data
        else:
            self._eof = True

    @property
    def trailing_data(self) -> bytes:
        """Bytes received past the current response (after a 101: the new protocol's)."""
        return bytes(self._buffer)

    def next_event(self) -> ResponseHead | bytes | object:
        """A :class:`ResponseHead` (1xx heads included), body bytes, ``END_OF_MESSAGE``,
        ``NEED_DATA`` or ``CONNECTION_CLOSED``. Raises :class:`ResponseError`."""
        if self.switched or self.response_done:
            return NEED_DATA
        if self._body is None:
            return self._head_event()
        return self._body_event()

    def _head_event(self) -> ResponseHead | object:
        buffer = self._buffer
        try:
            head = take_head(buffer, self._head_search, self.max_head)
        except ProtocolError as exc:
            raise ResponseError(f"response {exc}", too_large=True) from None
        if head is None:
            if self._eof:
                if not buffer:
                    return CONNECTION_CLOSED
                raise ResponseError("the connection closed inside a response head", incomplete=True)
            self._head_search = max(len(buffer) - 3, 0)
            return NEED_DATA
        self._head_search = 0
        try:
            lines = split_head(head)
            version, status, reason = parse_status_line(lines[0])
            fields = parse_fields(lines[1:])
        except ProtocolError as exc:
            raise ResponseError(str(exc)) from None
        response = ResponseHead(status, reason, version, fields)
        if status < 200:
            if status == 101:
                if not self._upgrade:
                    raise ResponseError("a 101 Switching Protocols the request did not ask for")
                self.switched = True
            return response
        headers = [(name.decode("latin-1"), value) for name, value in fields]
        try:
            framing = response_framing(status, self._method, headers)
        except FramingError as exc:
            raise ResponseError(str(exc)) from None
        if version != b"1.1" or "close" in connection_tokens(headers):
            self.keep_alive = False
        self._body = framing
        self._left = framing.length
        self._chunked = ChunkedScanner() if framing.kind == "chunked" else None
        if framing.kind == "close":
            self.keep_alive = False
        return response

    def _body_event(self) -> bytes | object:
        framing = self._body
        assert framing is not None
        buffer = self._buffer
        kind = framing.kind
        if kind == "none" or (kind == "length" and self._left == 0):
            return self._end()
        if kind == "chunked":
            return self._chunked_event()
        if not buffer:
            if not self._eof:
                return NEED_DATA
            if kind == "close":
                return self._end()
            raise ResponseError("the connection closed inside a response body", incomplete=True)
        if kind == "close":
            data = bytes(buffer)
            buffer.clear()
            return data
        take = min(len(buffer), self._left)
        data = bytes(buffer[:take]) if take < len(buffer) else bytes(buffer)
        del buffer[:take]
        self._left -= take
        return data

    def _chunked_event(self) -> bytes | object:
        scanner = self._chunked
        assert scanner is not None
        buffer = self._buffer
        while not scanner.done:
            if not buffer:
                if self._eof:
                    raise ResponseError(
                        "the connection closed inside a response body", incomplete=True
                    )
                return NEED_DATA
            try:
                data = take_payload(scanner, buffer)
            except ChunkedError as exc:
                raise ResponseError(f"bad chunked body: {exc}") from None
            if data:
                return data
        return self._end()

    def _end(self) -> object:
        self.response_done = True
        return END_OF_MESSAGE

    # -- reuse -----------------------------------------------------------------------------
    def reusable(self) -> bool:
        """True if another request may follow: both messages complete, keep-alive on both
        sides, and nothing unread (bytes after a complete response must never answer
        another request)."""
        return (
            self.request_done
            and self.response_done
            and self.keep_alive
            and not self._buffer
            and not self._eof
        )
