"""A mock backend: a real HTTP/1.1 server on 127.0.0.1 whose answers come from a Python function.

The app's requests reach it over a socket, through compute-emu's real upstream client (or
through Pushpin, for a Fanout handoff), so the whole data path is exercised; only the origin
is replaced. Each request is recorded (``requests``); an exception raised by the function is
answered with a 500 and kept (``errors``), and :meth:`MockBackend.check` raises it in the test.
The pytest plugin fails the test itself with it (:func:`take_errors`), whichever way the mock
was made.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import traceback
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union
from urllib.parse import urlsplit

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


@dataclass
class MockRequest:
    """A request the mock backend received."""

    method: str
    target: str  # path and query, as sent
    headers: list[tuple[str, str]]
    body: bytes = b""

    @property
    def path(self) -> str:
        """The path, without the query."""
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (any case), or ``default``."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), default)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class MockResponse:
    """What the mock backend answers. ``body`` may be an iterable of chunks: sent chunked, each
    written as soon as the iterable yields it (a streaming origin)."""

    status: int = 200
    headers: Headers = field(default_factory=dict)
    body: bytes | str | Iterable[bytes] = b""


#: What a mock backend's function may return: a :class:`MockResponse`, a body (``str`` or
#: ``bytes``, answered 200), a status code, or ``None`` (an empty 200).
MockResult = Union[MockResponse, str, bytes, int, None]  # noqa: UP007 (a runtime alias)
Handler = Callable[[MockRequest], MockResult]


def _as_response(result: MockResult) -> MockResponse:
    if isinstance(result, MockResponse):
        return result
    if result is None:
        return MockResponse()
    if isinstance(result, int):
        return MockResponse(status=result)
    return MockResponse(body=result)


def _header_items(headers: Headers) -> list[tuple[str, str]]:
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every connection's thread
    block_on_close = True

    def __init__(self, backend: MockBackend) -> None:
        self.backend = backend
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        """Close the listener, end every open connection, and wait for their threads."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        super().server_close()


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """No stderr access log (the requests are in ``MockBackend.requests``)."""

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        backend = self.server.backend
        request = MockRequest(self.command, self.path, list(self.headers.items()), b"")
        request.body = self._read_body()
        backend._record(request)
        try:
            response = _as_response(backend.handler(request))
            if not 100 <= response.status <= 599:
                raise ValueError(f"a mock backend answered status {response.status}")
        except Exception as exc:
            backend._failed(exc)
            response = MockResponse(500, {"Content-Type": "text/plain"}, traceback.format_exc())
        self._respond(response)

    def _respond(self, response: MockResponse) -> None:
        self.send_response(response.status)
        names = set()
        for name, value in _header_items(response.headers):
            self.send_header(name, value)
            names.add(name.lower())
        body = response.body
        if isinstance(body, str | bytes):
            data = body.encode("utf-8") if isinstance(body, str) else body
            if "content-length" not in names and response.status not in (204, 304):
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            self.wfile.flush()
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for chunk in body:
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except OSError:  # the client (or close()) ended the connection
            self.close_connection = True

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # every method, standard or not
            return self._handle
        raise AttributeError(name)


_made: weakref.WeakSet[MockBackend] = weakref.WeakSet()  # every mock backend still referenced


def take_errors() -> list[BaseException]:
    """The exceptions raised by the function of any mock backend since they were last taken
    (by this or by :meth:`MockBackend.check`), in order per mock; they are taken once."""
    taken: list[BaseException] = []
    for mock in list(_made):
        with mock._lock:
            taken += mock.errors
            mock.errors = []
    return taken


def handler_error(error: BaseException) -> AssertionError:
    """The failure a mock's exception becomes in the test (its traceback chained)."""
    failure = AssertionError(f"the mock backend's handler raised {error!r}")
    failure.__cause__ = error
    return failure


class MockBackend:
    """A backend whose answers come from ``handler(request)`` (see :data:`MockResult`).

    Use it as a context manager (or call :meth:`close`); pass it, or its ``url``, as an
    :class:`~compute_emu.testing.Emulator` backend override.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[MockRequest] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._server = _Server(self)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"compute-emu mock backend :{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._closed = False
        _made.add(self)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/``: what fastly.toml's backend ``url`` would say."""
        return f"http://127.0.0.1:{self.port}/"

    def _record(self, request: MockRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            self.errors.append(exc)

    def check(self) -> None:
        """Raise the first exception the handler raised, if any (once)."""
        with self._lock:
            errors, self.errors = self.errors, []
        if errors:
            raise handler_error(errors[0])

    def close(self) -> None:
        """Stop serving, end open connections, wait for every thread."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> MockBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
