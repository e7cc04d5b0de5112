"""HTTP/1.1 for the front door, sans-I/O: request bytes in, events out; responses to bytes.

:class:`ServerProtocol` is the server half of one client connection, built for the one job
compute-emu gives it: it replaces h11 on the front door, where h11 cost ~35 us per request
(a third of the loop's time on a hello-world request; this costs ~5). The states carry h11's
names so the connection code reads the same, and every legal move is in one table,
:data:`MOVES`. The rules are stricter than h11's where a lenient parse could be read
differently by the next hop (Pushpin, a backend):

- lines end in CRLF; a bare LF or CR, an obs-fold (a line starting with SP or HTAB), space
  before a colon, or a control character in a field value is a 400;
- a request head is at most ``max_head`` bytes, complete or not (431);
- the body's framing is :func:`~compute_emu.rules.framing.declared_framing`'s decision,
  carried on the head as :attr:`RequestHead.framing`: Content-Length digits only, repeated
  values equal; Transfer-Encoding exactly ``chunked`` (501 for other codings, RFC 9112
  §6.1); both Content-Length and Transfer-Encoding refused (400, and the connection closes:
  RFC 9112 §6.3 item 3);
- an HTTP/1.1 request has exactly one Host, an HTTP/1.0 one at most one (400);
- chunked bodies are checked by :class:`~compute_emu.rules.chunked.ChunkedScanner`.

Response headers are checked too (an app cannot split a response with a CR or LF in a
header), and a response given both Content-Length and Transfer-Encoding goes out chunked
only, as h11 does (RFC 9112 §6.2: a sender must not send both).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .chunked import ChunkedError, ChunkedScanner, take_payload
from .framing import NO_BODY, Framing, FramingError, connection_tokens, declared_framing
from .http1_head import (
    LocalProtocolError,
    ProtocolError,
    parse_fields,
    parse_request_line,
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
    MUST_CLOSE,
    NEED_DATA,
    PAUSED,
    SEND_BODY,
    SEND_RESPONSE,
    SWITCHED,
    Move,
    Moves,
    Sentinel,
    State,
    StateMachine,
    transition_table,
)

__all__ = [
    "CLOSED",
    "CONNECTION_CLOSED",
    "DONE",
    "END_OF_MESSAGE",
    "ERROR",
    "IDLE",
    "MAX_HEAD",
    "MOVES",
    "MUST_CLOSE",
    "NEED_DATA",
    "PAUSED",
    "SEND_BODY",
    "SEND_RESPONSE",
    "SWITCHED",
    "Event",
    "LocalProtocolError",
    "ProtocolError",
    "RequestHead",
    "ServerProtocol",
    "State",
]

MAX_HEAD = 64 * 1024
_DIGITS = re.compile(rb"[0-9]{1,18}")  # a response's Content-Length


class Event:
    """What moves the states of a server connection."""

    REQUEST = Move("a request head came in")
    END_OF_REQUEST = Move("the request body ended")
    CONNECTION_CLOSED = Move("the client closed between requests")
    PROTOCOL_ERROR = Move("the client broke HTTP/1.1")
    INFORMATIONAL = Move("a 100 Continue went out")
    SWITCH = Move("a 101 Switching Protocols went out")
    RESPONSE = Move("a response head went out")
    END_OF_RESPONSE = Move("the response ended")
    SEND_FAILED = Move("a write failed")
    NEXT_CYCLE = Move("start_next_cycle()")


# Every legal move: event -> (our moves, their moves); None leaves that side where it is.
MOVES: Moves = {
    Event.REQUEST: ({IDLE: SEND_RESPONSE}, {IDLE: SEND_BODY}),
    Event.END_OF_REQUEST: (None, {SEND_BODY: DONE}),
    Event.CONNECTION_CLOSED: (None, {IDLE: CLOSED}),
    Event.PROTOCOL_ERROR: (None, {IDLE: ERROR, SEND_BODY: ERROR}),
    Event.INFORMATIONAL: ({SEND_RESPONSE: SEND_RESPONSE}, None),
    Event.SWITCH: ({SEND_RESPONSE: SWITCHED}, {DONE: SWITCHED, MUST_CLOSE: SWITCHED}),
    Event.RESPONSE: ({IDLE: SEND_BODY, SEND_RESPONSE: SEND_BODY}, None),  # IDLE: an error
    Event.END_OF_RESPONSE: ({SEND_BODY: DONE}, None),
    Event.SEND_FAILED: ({state: ERROR for state in State}, None),
    Event.NEXT_CYCLE: ({DONE: IDLE}, {DONE: IDLE}),
}


@dataclass(slots=True)
class RequestHead:
    """A parsed request head; header names as the client spelled them. ``framing`` is how
    its body is delimited, decided once here: whatever reads the body asks it, not the
    headers."""

    method: bytes
    target: bytes
    http_version: bytes
    headers: list[tuple[bytes, bytes]]
    framing: Framing = NO_BODY


class ServerProtocol(StateMachine):
    """The server side of one HTTP/1.1 connection (see the module docstring).

    ``our_state``, ``their_state`` and ``keep_alive`` change only in ``_set_state``, by
    :data:`MOVES`.
    """

    TABLE = transition_table(MOVES)

    __slots__ = (
        "_buffer",
        "_chunked",
        "_head_search",
        "_http11",
        "_left_to_read",
        "_left_to_send",
        "_no_body",
        "_out_chunked",
        "client_waits_for_100_continue",
        "max_head",
        "peer_eof",
        "request_method",
    )

    def __init__(self, max_head: int = MAX_HEAD) -> None:
        super().__init__()
        self.max_head = max_head
        self.client_waits_for_100_continue = False
        self.peer_eof = False  # the client closed its sending side
        self.request_method = b""
        self._buffer = bytearray()
        self._head_search = 0  # where to look for the end of the head next
        self._left_to_read = 0  # Content-Length body bytes still due
        self._chunked: ChunkedScanner | None = None
        self._left_to_send: int | None = None  # response Content-Length bytes still due
        self._out_chunked = False
        self._no_body = False
        self._http11 = True

    # -- receiving -----------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the client; ``b""`` means it closed its side."""
        if data:
            self._buffer += data
        else:
            self.peer_eof = True

    @property
    def trailing_data(self) -> bytes:
        """Bytes received past the current request (after a 101: the new protocol's)."""
        return bytes(self._buffer)

    def next_event(self) -> RequestHead | bytes | Sentinel:
        """The next event: a :class:`RequestHead`, body bytes, ``END_OF_MESSAGE``,
        ``NEED_DATA``, ``PAUSED`` or ``CONNECTION_CLOSED``. Raises :class:`ProtocolError`."""
        state = self.their_state
        try:
            if state is SEND_BODY:
                return self._body_event()
            if state is IDLE:
                return self._head_event()
        except ProtocolError:
            self._set_state(Event.PROTOCOL_ERROR, keep_alive=False)
            raise
        if state is ERROR:
            raise ProtocolError("the request was already invalid")
        if state is CLOSED:
            return CONNECTION_CLOSED
        return PAUSED  # DONE, MUST_CLOSE, SWITCHED: answer (or relay) first

    def _head_event(self) -> RequestHead | Sentinel:
        buffer = self._buffer
        while buffer.startswith(b"\r\n"):  # RFC 9112 §2.2: ignore empty lines before a request
            del buffer[:2]
        head = take_head(buffer, self._head_search, self.max_head)
        if head is None:
            if self.peer_eof:
                if not buffer:
                    self._set_state(Event.CONNECTION_CLOSED)
                    return CONNECTION_CLOSED
                raise ProtocolError("the connection closed inside a request head")
            self._head_search = max(len(buffer) - 3, 0)
            return NEED_DATA
        self._head_search = 0
        lines = split_head(head)
        method, target, version = parse_request_line(lines[0])
        request = RequestHead(method, target, version, parse_fields(lines[1:]))
        self._start_request(request)
        return request

    def _start_request(self, request: RequestHead) -> None:
        lengths: list[bytes] = []
        codings: list[bytes] = []
        connection: list[tuple[bytes, bytes]] = []
        host_count = 0
        expect = False
        for name, value in request.headers:
            lower = name.lower()
            if lower == b"content-length":
                lengths.append(value)
            elif lower == b"transfer-encoding":
                codings.append(value)
            elif lower == b"host":
                host_count += 1
            elif lower == b"connection":
                connection.append((name, value))
            elif lower == b"expect":
                expect = value.lower() == b"100-continue"
        http11 = request.http_version == b"1.1"
        if lengths or codings:
            try:
                request.framing = declared_framing(lengths, codings) or NO_BODY
            except FramingError as exc:  # both framings (RFC 9112 §6.3) among them: refused
                raise ProtocolError(str(exc), exc.status) from None
        if host_count > 1 or (host_count == 0 and http11):
            raise ProtocolError("a request needs exactly one Host header (HTTP/1.0: at most one)")
        close = not http11 or (bool(connection) and "close" in connection_tokens(connection))
        self._set_state(Event.REQUEST, keep_alive=not close)
        self.request_method = request.method
        self._http11 = http11
        framing = request.framing
        self._chunked = ChunkedScanner() if framing.kind == "chunked" else None
        self._left_to_read = framing.length
        has_body = self._chunked is not None or self._left_to_read > 0
        self.client_waits_for_100_continue = expect and has_body and http11

    def _body_event(self) -> bytes | Sentinel:
        buffer = self._buffer
        scanner = self._chunked
        if scanner is None:
            if self._left_to_read == 0:
                self._set_state(Event.END_OF_REQUEST)
                return END_OF_MESSAGE
            if not buffer:
                return self._need_body()
            take = min(len(buffer), self._left_to_read)
            data = bytes(buffer[:take]) if take < len(buffer) else bytes(buffer)
            del buffer[:take]
            self._left_to_read -= take
            self.client_waits_for_100_continue = False
            return data
        if scanner.done:
            self._set_state(Event.END_OF_REQUEST)
            return END_OF_MESSAGE
        if not buffer:
            return self._need_body()
        try:
            data = take_payload(scanner, buffer)
        except ChunkedError as exc:
            raise ProtocolError(f"bad chunked body: {exc}") from None
        self.client_waits_for_100_continue = False
        if data:
            return data
        return self._body_event() if scanner.done else NEED_DATA

    def _need_body(self) -> Sentinel:
        if self.peer_eof:
            raise ProtocolError("the client closed before its request body was complete")
        return NEED_DATA

    # -- sending -------------------------------------------------------------------------
    def send_informational(self, status: int, headers: list[tuple[bytes, bytes]]) -> bytes:
        """A ``100 Continue`` or a ``101 Switching Protocols`` (then HTTP ends here)."""
        if status not in (100, 101):
            raise LocalProtocolError(f"cannot send a {status} informational response")
        head = serialize_head(
            b"HTTP/1.1 101 Switching Protocols\r\n"
            if status == 101
            else b"HTTP/1.1 100 Continue\r\n",
            headers,
        )
        self._set_state(Event.SWITCH if status == 101 else Event.INFORMATIONAL)
        self.client_waits_for_100_continue = False
        return head

    def send_response(
        self, status: int, headers: list[tuple[bytes, bytes]], reason: bytes = b""
    ) -> bytes:
        """The response head; ``headers`` as the app wants them, framing decided here.

        As h11 does: no ``Content-Length`` and no ``Transfer-Encoding`` means chunked for an
        HTTP/1.1 client and close-delimited for an HTTP/1.0 one; with both, only
        ``Transfer-Encoding`` goes out; ``Connection: close`` is added whenever the
        connection will not be kept alive.
        """
        if not 200 <= status <= 999:
            raise LocalProtocolError(f"cannot send a {status} response")
        length: int | None = None
        chunked = False
        failed = self.their_state is ERROR  # an error answer: no valid request came
        http10 = not failed and not self._http11
        out = []
        connection = []
        for name, value in headers:
            lower = name.lower()
            if lower == b"content-length":
                if not _DIGITS.fullmatch(value):
                    raise LocalProtocolError(f"bad Content-Length {value!r}")
                length = int(value)
            elif lower == b"transfer-encoding":
                if value.lower() != b"chunked":
                    raise LocalProtocolError(f"unsupported Transfer-Encoding {value!r}")
                chunked = True
                continue  # added back below, when the client can read it
            elif lower == b"connection":
                connection.append((name, value))
            out.append((name, value))
        if chunked:
            out = [(n, v) for n, v in out if n.lower() != b"content-length"]
            length = None
        no_body = self.request_method == b"HEAD" or status in (204, 304)
        out_chunked = close_delimited = False
        if no_body:
            if chunked:
                out.append((b"transfer-encoding", b"chunked"))  # as the app said (HEAD)
        elif length is None:
            if http10 or failed:
                close_delimited = True
            else:
                out.append((b"transfer-encoding", b"chunked"))
                out_chunked = True
        close = bool(connection) and "close" in connection_tokens(connection)
        closing = close or close_delimited or failed or not self.keep_alive
        if closing and not close:
            out.append((b"connection", b"close"))
        data = serialize_head(b"HTTP/1.1 %d %s\r\n" % (status, reason), out)
        self._set_state(Event.RESPONSE, keep_alive=not closing)
        self.client_waits_for_100_continue = False
        self._no_body = no_body
        self._out_chunked = out_chunked
        self._left_to_send = length if not (no_body or out_chunked or close_delimited) else None
        return data

    def send_data(self, data: bytes) -> bytes:
        """Frame one piece of the response body."""
        if self.our_state is not SEND_BODY:
            raise LocalProtocolError(f"cannot send body data now ({self.our_state!r})")
        if not data:
            return b""
        if self._no_body:
            raise LocalProtocolError("this response has no body (HEAD, 204 or 304)")
        if self._out_chunked:
            return b"%x\r\n%b\r\n" % (len(data), data)
        if self._left_to_send is not None:
            if len(data) > self._left_to_send:
                raise LocalProtocolError("too much data for the declared Content-Length")
            self._left_to_send -= len(data)
        return data

    def send_end(self) -> bytes:
        """End the response body; the connection may then start its next cycle."""
        if self._left_to_send and self.our_state is SEND_BODY:
            raise LocalProtocolError("too little data for the declared Content-Length")
        self._set_state(Event.END_OF_RESPONSE)
        return b"0\r\n\r\n" if self._out_chunked else b""

    def send_failed(self) -> None:
        """A write failed: nothing more can be said on this connection."""
        self._set_state(Event.SEND_FAILED, keep_alive=False)

    def start_next_cycle(self) -> None:
        """Both sides are done with a kept-alive exchange: read the next request."""
        self._set_state(Event.NEXT_CYCLE)
        self.request_method = b""
