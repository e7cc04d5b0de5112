"""A client for long-lived responses (HTTP streams, Server-Sent Events) that a test can wait on.

:class:`SSEParser` is sans-I/O (bytes in, events out). :class:`StreamReader` reads one
response in a thread of its own, so the test can publish while it waits for what arrives;
:meth:`StreamReader.close` shuts the socket down, which also ends a read blocked in that thread.
"""

from __future__ import annotations

import contextlib
import http.client
import queue
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class SSEEvent:
    """One Server-Sent Event: ``event`` (``"message"`` unless named), ``data`` lines joined
    with newlines, the ``id`` field if the event had one."""

    data: str
    event: str = "message"
    id: str | None = None


class SSEParser:
    """The event-stream format (WHATWG HTML, "Server-sent events"): feed bytes, get events."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._skip_lf = False

    def feed(self, data: bytes) -> list[SSEEvent]:
        """The events completed by ``data`` (a partial line or event waits for more)."""
        if self._skip_lf and data.startswith(b"\n"):
            data = data[1:]
        self._skip_lf = False
        self._buffer += data
        events: list[SSEEvent] = []
        while True:
            cr, lf = self._buffer.find(b"\r"), self._buffer.find(b"\n")
            ends = [i for i in (cr, lf) if i >= 0]
            if not ends:
                return events
            end = min(ends)
            line = self._buffer[:end]
            if self._buffer[end : end + 1] == b"\r":
                if end + 1 == len(self._buffer):
                    self._skip_lf = True  # a CRLF may be split between two reads
                    self._buffer = b""
                elif self._buffer[end + 1 : end + 2] == b"\n":
                    self._buffer = self._buffer[end + 2 :]
                else:
                    self._buffer = self._buffer[end + 1 :]
            else:
                self._buffer = self._buffer[end + 1 :]
            event = self._line(line.decode("utf-8", "replace"))
            if event is not None:
                events.append(event)

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = SSEEvent("\n".join(self._data), self._event or "message", self._id)
            self._data, self._event = [], ""
            return event
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None


class StreamReader:
    """A GET (or other request) whose response is read as it arrives, in a thread.

    ``chunks`` gets each piece of body as read; lines and SSE events are split from them.
    """

    def __init__(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        *,
        method: str = "GET",
        timeout: float = 30.0,
    ) -> None:
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.error: BaseException | None = None
        self.opened = threading.Event()
        self.done = threading.Event()
        self._lines: queue.Queue[str] = queue.Queue()
        self._events: queue.Queue[SSEEvent] = queue.Queue()
        self._received = bytearray()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        parts = urlsplit(url)
        self._conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=timeout
        )
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._thread = threading.Thread(
            target=self._run,
            args=(method, target, headers or {}),
            name=f"compute-emu stream {target}",
            daemon=True,
        )
        self._thread.start()

    @property
    def received(self) -> bytes:
        """Every body byte so far."""
        with self._lock:
            return bytes(self._received)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def _run(self, method: str, target: str, headers: dict[str, str]) -> None:
        parser = SSEParser()
        pending = b""
        try:
            self._conn.connect()
            # kept: http.client forgets the socket when the response is read to its close
            self._sock = self._conn.sock
            self._conn.request(method, target, headers=headers)
            response = self._conn.getresponse()
            self.status, self.headers = response.status, response.getheaders()
            self._sock.settimeout(None)  # a held stream may stay quiet for long
            self.opened.set()
            while data := response.read1(65536):
                with self._lock:
                    self._received += data
                for event in parser.feed(data):
                    self._events.put(event)
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._lines.put(line.rstrip(b"\r").decode("utf-8", "replace"))
        except (OSError, http.client.HTTPException) as exc:
            self.error = exc
        finally:
            self.opened.set()
            self.done.set()

    def wait_open(self, timeout: float = 10.0) -> StreamReader:
        """Wait for the response head; fail if the request failed or did not get one."""
        if not self.opened.wait(timeout):
            raise TimeoutError(f"no response head within {timeout}s")
        if self.status is None:
            raise AssertionError(f"the request failed: {self.error!r}")
        return self

    def next_line(self, timeout: float = 10.0) -> str:
        """The next line of the body (without its line ending)."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(self._waited("a line", timeout)) from None

    def next_event(self, timeout: float = 10.0) -> SSEEvent:
        """The next Server-Sent Event of the body."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(self._waited("an event", timeout)) from None

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        """Skip lines until one contains ``text``; that line."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(max(deadline - time.monotonic(), 0.001))
            if text in line:
                return line

    def _waited(self, what: str, timeout: float) -> str:
        state = "the response ended" if self.done.is_set() else "still open"
        return f"no {what} within {timeout}s ({state}; received {self.received[-200:]!r})"

    def close(self) -> None:
        """End the request: the socket is shut down and the reading thread joined."""
        deadline = time.monotonic() + 5.0
        while self._sock is None and not self.done.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)  # still connecting: shut the socket down once it exists
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)
        self._conn.close()
        if sock is not None:
            sock.close()

    def __enter__(self) -> StreamReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
