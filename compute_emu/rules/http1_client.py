"""HTTP/1.1 to an origin, sans-I/O: request bytes out, response events in.

:class:`ClientProtocol` is the client half of one connection to a backend or to Pushpin, one
exchange at a time: it replaces h11 in ``upstream/connection.py`` (the same job for ~a fifth
of the cost). Heads are read and written by the grammar both halves share
(:mod:`~compute_emu.rules.http1_head`: CRLF only, no obs-fold, no control characters; a
request target of visible ASCII) and the body's framing by :mod:`~compute_emu.rules.framing`:
a response with both Content-Length and Transfer-Encoding, or lengths that disagree, is a
:class:`ResponseError`, never a guess; so is a status that is not 100, 101 (asked for), 103
or 200-599, so that no head of the origin's choosing is skipped as informational. Whether
the connection may serve another request is decided here too
(:meth:`ClientProtocol.reusable`): never with unread bytes after a response.

The states are h11's, and every legal move is in one table, :data:`MOVES`: after a complete
response ``next_event()`` says ``PAUSED`` (as h11 does) until the next cycle starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from .chunked import ChunkedError, ChunkedScanner, take_payload
from .framing import (
    NO_BODY,
    FramingError,
    connection_tokens,
    declared_framing,
    response_framing,
)
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
from .http1_state import (
    CLOSED,
    CONNECTION_CLOSED,
    DONE,
    END_OF_MESSAGE,
    ERROR,
    IDLE,
    NEED_DATA,
    PAUSED,
    SEND_BODY,
    SEND_RESPONSE,
    SWITCHED,
    Move,
    Moves,
    Sentinel,
    StateMachine,
    transition_table,
)

__all__ = [
    "CONNECTION_CLOSED",
    "END_OF_MESSAGE",
    "MOVES",
    "NEED_DATA",
    "PAUSED",
    "ClientProtocol",
    "Event",
    "LocalProtocolError",
    "ResponseError",
    "ResponseHead",
]

MAX_HEAD = 100 * 1024
INFORMATIONAL_STATUSES = frozenset({100, 103})  # 1xx heads passed on (send() skips them)


class Event:
    """What moves the states of a client connection."""

    REQUEST = Move("a request head went out")
    END_OF_REQUEST = Move("the request body ended")
    INFORMATIONAL = Move("a 100 or 103 head came in")
    SWITCH = Move("a 101 Switching Protocols came in")
    RESPONSE = Move("a final response head came in")
    END_OF_RESPONSE = Move("the response body ended")
    CONNECTION_CLOSED = Move("the origin closed before answering")
    PROTOCOL_ERROR = Move("the origin broke HTTP/1.1")
    NEXT_CYCLE = Move("start_next_cycle()")


# Every legal move: event -> (our moves, their moves); None leaves that side where it is.
# The response may come while the request body is still going out (an early answer).
MOVES: Moves = {
    Event.REQUEST: ({IDLE: SEND_BODY}, {IDLE: SEND_RESPONSE}),
    Event.END_OF_REQUEST: ({SEND_BODY: DONE}, None),
    Event.INFORMATIONAL: (None, {SEND_RESPONSE: SEND_RESPONSE}),
    Event.SWITCH: ({SEND_BODY: SWITCHED, DONE: SWITCHED}, {SEND_RESPONSE: SWITCHED}),
    Event.RESPONSE: (None, {SEND_RESPONSE: SEND_BODY}),
    Event.END_OF_RESPONSE: (None, {SEND_BODY: DONE}),
    Event.CONNECTION_CLOSED: (None, {SEND_RESPONSE: CLOSED}),
    Event.PROTOCOL_ERROR: (None, {SEND_RESPONSE: ERROR, SEND_BODY: ERROR}),
    Event.NEXT_CYCLE: ({DONE: IDLE}, {DONE: IDLE}),
}


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


class ClientProtocol(StateMachine):
    """The client side of one HTTP/1.1 connection (see the module docstring).

    ``our_state``, ``their_state`` and ``keep_alive`` change only in ``_set_state``, by
    :data:`MOVES`.
    """

    TABLE = transition_table(MOVES)

    __slots__ = (
        "_buffer",
        "_chunked",
        "_eof",
        "_head_search",
        "_left",
        "_method",
        "_out_chunked",
        "_out_left",
        "_upgrade",
        "max_head",
    )

    def __init__(self, max_head: int = MAX_HEAD) -> None:
        super().__init__()
        self.max_head = max_head
        self._buffer = bytearray()
        self._eof = False
        self._head_search = 0
        self._method = "GET"
        self._left = 0  # response Content-Length bytes still due (or -1: until closed)
        self._chunked: ChunkedScanner | None = None
        self._out_chunked = False
        self._out_left: int | None = None
        self._upgrade = False  # the request asked for an upgrade: a 101 may come

    # -- sending ---------------------------------------------------------------------------
    def send_request(self, method: str, target: str, headers: list[tuple[str, bytes]]) -> bytes:
        """The request head, header names in lower case as hyper writes them (Viceroy's
        HTTP client, and h2's rule); the body's framing is what ``headers`` declare."""
        lengths: list[bytes] = []
        codings: list[bytes] = []
        connection: list[tuple[str, bytes]] = []
        upgrade = False
        raw = []
        for name, value in headers:
            lower = name.lower()
            raw.append((lower.encode("latin-1"), value))  # as hyper (Viceroy) writes them
            if lower == "content-length":
                lengths.append(value)
            elif lower == "transfer-encoding":
                codings.append(value)
            elif lower == "connection":
                connection.append((name, value))
            elif lower == "upgrade":
                upgrade = True
        try:
            framing = declared_framing(lengths, codings) or NO_BODY
        except FramingError as exc:
            raise LocalProtocolError(str(exc)) from None
        head = serialize_head(request_line(method, target), raw)
        close = bool(connection) and "close" in connection_tokens(connection)
        self._set_state(Event.REQUEST, keep_alive=not close)
        self._method = method
        self._out_chunked = framing.kind == "chunked"
        self._out_left = framing.length if framing.kind == "length" else None
        self._upgrade = upgrade
        return head

    def send_data(self, data: bytes) -> bytes:
        """Frame one piece of the request body."""
        if self.our_state is not SEND_BODY:
            raise LocalProtocolError(f"cannot send body data now ({self.our_state!r})")
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
        if self._out_left and self.our_state is SEND_BODY:
            raise LocalProtocolError("too little data for the declared Content-Length")
        self._set_state(Event.END_OF_REQUEST)
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

    def next_event(self) -> ResponseHead | bytes | Sentinel:
        """A :class:`ResponseHead` (1xx heads included), body bytes, ``END_OF_MESSAGE``,
        ``NEED_DATA``, ``PAUSED`` (the response is complete, or a 101 came) or
        ``CONNECTION_CLOSED``. Raises :class:`ResponseError`."""
        state = self.their_state
        try:
            if state is SEND_BODY:
                return self._body_event()
            if state is SEND_RESPONSE:
                return self._head_event()
        except ResponseError:
            self._set_state(Event.PROTOCOL_ERROR, keep_alive=False)
            raise
        if state is ERROR:
            raise ResponseError("the response was already invalid")
        if state is CLOSED:
            return CONNECTION_CLOSED
        if state is IDLE:
            raise LocalProtocolError("no request was sent")
        return PAUSED  # DONE, MUST_CLOSE, SWITCHED

    def _head_event(self) -> ResponseHead | Sentinel:
        buffer = self._buffer
        try:
            head = take_head(buffer, self._head_search, self.max_head)
        except ProtocolError as exc:
            raise ResponseError(f"response {exc}", too_large=True) from None
        if head is None:
            if self._eof:
                if not buffer:
                    self._set_state(Event.CONNECTION_CLOSED, keep_alive=False)
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
            self._set_state(self._informational(status))
            return response
        if status > 599:
            raise ResponseError(f"status {status} is not a final HTTP status (200-599)")
        headers = [(name.decode("latin-1"), value) for name, value in fields]
        try:
            framing = response_framing(status, self._method, headers)
        except FramingError as exc:
            raise ResponseError(str(exc)) from None
        keep_alive = version == b"1.1" and framing.kind != "close"
        keep_alive = keep_alive and "close" not in connection_tokens(headers)
        self._set_state(Event.RESPONSE, keep_alive=keep_alive)
        self._chunked = ChunkedScanner() if framing.kind == "chunked" else None
        self._left = -1 if framing.kind == "close" else framing.length
        return response

    def _informational(self, status: int) -> Move:
        """What a status below 200 is: never a reason to skip a head but for the
        informational statuses a client can take whatever it asked (100, 103), and a 101
        only when the request asked to switch (a 000, say, followed by a response of the
        backend's choosing must not pass for a 1xx)."""
        if status in INFORMATIONAL_STATUSES:
            return Event.INFORMATIONAL
        if status == 101:
            if not self._upgrade:
                raise ResponseError("a 101 Switching Protocols the request did not ask for")
            return Event.SWITCH
        if status < 100:
            raise ResponseError(f"status {status:03d} is not an HTTP status (100-599)")
        raise ResponseError(f"status {status} is not an informational status (100 or 103)")

    def _body_event(self) -> bytes | Sentinel:
        if self._chunked is not None:
            return self._chunked_event()
        buffer = self._buffer
        left = self._left
        if left == 0:
            return self._end()
        if not buffer:
            if not self._eof:
                return NEED_DATA
            if left < 0:  # close-delimited: the close is its end
                return self._end()
            raise ResponseError("the connection closed inside a response body", incomplete=True)
        if left < 0:
            data = bytes(buffer)
            buffer.clear()
            return data
        take = min(len(buffer), left)
        data = bytes(buffer[:take]) if take < len(buffer) else bytes(buffer)
        del buffer[:take]
        self._left = left - take
        return data

    def _chunked_event(self) -> bytes | Sentinel:
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

    def _end(self) -> Sentinel:
        self._set_state(Event.END_OF_RESPONSE)
        return END_OF_MESSAGE

    # -- reuse -----------------------------------------------------------------------------
    def reusable(self) -> bool:
        """True if another request may follow: both messages complete, keep-alive on both
        sides, and nothing unread (bytes after a complete response must never answer
        another request)."""
        return (
            self.our_state is DONE
            and self.their_state is DONE
            and not self._buffer
            and not self._eof
        )

    def start_next_cycle(self) -> None:
        """Get ready for the next request on this connection; LocalProtocolError unless
        :meth:`reusable`."""
        if not self.reusable():
            raise LocalProtocolError(
                f"not reusable ({self.our_state!r}, {self.their_state!r}, "
                f"{len(self._buffer)} bytes unread)"
            )
        self._set_state(Event.NEXT_CYCLE)
