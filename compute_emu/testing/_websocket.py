"""``Emulator.websocket(path)``: a small blocking WebSocket client for tests (wsproto over a
plain socket to the emulator)."""

from __future__ import annotations

import socket
import time
from collections import deque

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

READ_SIZE = 65536


class WebSocketClosed(Exception):
    """The other side closed the WebSocket (``code``, ``reason``) while a message was awaited."""

    def __init__(self, code: int, reason: str | None) -> None:
        super().__init__(f"the WebSocket was closed: {code} {reason or ''}".rstrip())
        self.code = code
        self.reason = reason


class WebSocketClient:
    """One WebSocket to the emulator. Pings are answered; ``close()`` is idempotent.

    ``receive()`` gives the next whole message (``str`` for text, ``bytes`` for binary).
    """

    def __init__(
        self,
        host: str,
        port: int,
        path: str = "/",
        headers: dict[str, str] | None = None,
        subprotocols: list[str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.timeout = timeout
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._events: deque[Event] = deque()
        self._parts: list[str | bytes] = []
        self.closed: CloseConnection | None = None  # the close the other side sent
        self._sock = socket.create_connection((host, port), timeout=timeout)
        extra = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        request = Request(
            host=f"{host}:{port}",
            target=path,
            extra_headers=extra,
            subprotocols=list(subprotocols or []),
        )
        try:
            self._sock.sendall(self._ws.send(request))
            self.subprotocol = self._handshake()
        except BaseException:
            self._sock.close()
            raise

    def _handshake(self) -> str | None:
        deadline = time.monotonic() + self.timeout
        while True:
            event = self._next_event(deadline)
            if isinstance(event, AcceptConnection):
                return event.subprotocol
            if isinstance(event, RejectConnection):
                status, body, more = event.status_code, b"", event.has_body
                while more:
                    data = self._next_event(deadline)
                    if isinstance(data, RejectData):
                        body += data.data
                        more = not data.body_finished
                shown = f": {body[:200]!r}" if body else ""
                raise ConnectionError(f"the WebSocket was refused with status {status}{shown}")

    def _next_event(self, deadline: float) -> Event:
        while not self._events:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no WebSocket event within {self.timeout}s")
            self._sock.settimeout(remaining)
            try:
                data = self._sock.recv(READ_SIZE)
            except TimeoutError:
                continue
            self._ws.receive_data(data or None)
            self._events.extend(self._ws.events())
            if not data and not self._events:
                raise ConnectionError("the connection closed")
        return self._events.popleft()

    # -- sending ----------------------------------------------------------------------------
    def send_text(self, text: str) -> None:
        """Send one text message."""
        self._sock.sendall(self._ws.send(Message(data=text)))

    def send_bytes(self, data: bytes) -> None:
        """Send one binary message."""
        self._sock.sendall(self._ws.send(Message(data=data)))

    # -- receiving --------------------------------------------------------------------------
    def receive(self, timeout: float | None = None) -> str | bytes:
        """The next whole message; raises :class:`WebSocketClosed` if the other side closed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if self.closed is not None:
                raise WebSocketClosed(self.closed.code, self.closed.reason)
            event = self._next_event(deadline)
            if isinstance(event, Ping):
                self._sock.sendall(self._ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.closed = event
                if self._ws.state is ConnectionState.REMOTE_CLOSING:
                    self._sock.sendall(self._ws.send(event.response()))
            elif isinstance(event, TextMessage):
                self._parts.append(event.data)
                if event.message_finished:
                    parts, self._parts = self._parts, []
                    return "".join(str(part) for part in parts)
            elif isinstance(event, BytesMessage):
                self._parts.append(bytes(event.data))
                if event.message_finished:
                    parts, self._parts = self._parts, []
                    return b"".join(part for part in parts if isinstance(part, bytes))

    def receive_text(self, timeout: float | None = None) -> str:
        """The next message, which must be text."""
        message = self.receive(timeout)
        if not isinstance(message, str):
            raise TypeError(f"expected a text message, got {len(message)} bytes of binary")
        return message

    def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next message, which must be binary."""
        message = self.receive(timeout)
        if not isinstance(message, bytes):
            raise TypeError(f"expected a binary message, got text {message[:60]!r}")
        return message

    # -- closing ----------------------------------------------------------------------------
    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Send a close (if still open), wait briefly for the other side's, close the socket."""
        if self._sock.fileno() == -1:
            return
        try:
            if self._ws.state is ConnectionState.OPEN:
                self._sock.sendall(self._ws.send(CloseConnection(code=code, reason=reason)))
                deadline = time.monotonic() + min(self.timeout, 5.0)
                while self.closed is None:
                    event = self._next_event(deadline)
                    if isinstance(event, CloseConnection):
                        self.closed = event
        except (OSError, TimeoutError, ConnectionError):
            pass
        finally:
            self._sock.close()

    def __enter__(self) -> WebSocketClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
