"""End to end: what a backend or a client can do to compute-emu's way out through `send()`.

Scripted backends answer with exact bytes from a thread of the test (raw sockets), so a
backend can misbehave in ways a real server library would not allow.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.sdk_hosts import BOTH

SDK_HOSTS = BOTH  # each test also runs on the SDK's Wasm host (tests/support/sdk_hosts.py)

FORWARD_APP = """
from compute_emu.sdk import Request

def main():
    Request.from_client().send("origin").send_to_client()
"""


class ScriptedBackend:
    """A raw-socket backend on 127.0.0.1: ``answer(n)`` gives the bytes for the n-th request
    (counted over all connections); connections stay open until the peer closes them."""

    def __init__(self, answer: Callable[[int], bytes]) -> None:
        self._answer = answer
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.requests = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._stopping = False
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._stopping:  # accepted as stop() ran: it will not see this one
                    conn.close()
                    return
                self.connections += 1
                self._sockets.append(conn)
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        buffer = b""
        with contextlib.suppress(OSError):
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                _head, buffer = buffer.split(b"\r\n\r\n", 1)
                with self._lock:
                    index = self.requests
                    self.requests += 1
                conn.sendall(self._answer(index))

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
        # shutdown() wakes the accept() blocked in the thread; close() alone does not
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for conn in self._sockets:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        self._accept.join(5)
        for thread in self._threads:
            thread.join(5)
        assert not any(t.is_alive() for t in (self._accept, *self._threads)), "threads left"


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[int], bytes]], ScriptedBackend]]:
    backends: list[ScriptedBackend] = []

    def start(answer: Callable[[int], bytes]) -> ScriptedBackend:
        backend = ScriptedBackend(answer)
        backends.append(backend)
        return backend

    yield start
    for backend in backends:
        backend.stop()


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def test_bytes_after_a_complete_response_never_answer_the_next_request(
    make_project, serve, scripted
):
    injected = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Injected: 1\r\n\r\ninjected"
    backend = scripted(lambda n: ok(b"ok") + injected if n == 0 else ok(b"fresh %d" % n))
    served = serve(
        make_project(FORWARD_APP, backends={"origin": f"http://127.0.0.1:{backend.port}"})
    )
    first = httpx.get(f"{served.url}/one")
    assert (first.status_code, first.text) == (200, "ok")
    for _ in range(3):
        with httpx.Client() as other_client:
            r = other_client.get(f"{served.url}/two")
        assert r.text.startswith("fresh"), r.text
        assert "x-injected" not in r.headers


def test_a_response_with_both_content_length_and_chunked_is_an_error(make_project, serve, scripted):
    smuggling = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
    )
    backend = scripted(lambda n: smuggling)
    served = serve(
        make_project(FORWARD_APP, backends={"origin": f"http://127.0.0.1:{backend.port}"})
    )
    r = httpx.get(f"{served.url}/x")
    assert r.status_code == 500  # an uncaught SendError: the guest failed
    assert "HTTP protocol error" in r.text
    caught = """
    from compute_emu.sdk import Request, Response, SendError
    def main():
        try:
            Request.from_client().send("origin")
        except SendError as e:
            Response.from_body(e.root_cause().name).send_to_client()
    """
    served = serve(
        make_project(caught, backends={"origin": f"http://127.0.0.1:{backend.port}"}, name="c")
    )
    assert httpx.get(served.url).text == "HttpProtocolError"


def test_conflicting_content_lengths_from_a_backend_are_an_error(make_project, serve, scripted):
    backend = scripted(
        lambda n: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"
    )
    served = serve(
        make_project(FORWARD_APP, backends={"origin": f"http://127.0.0.1:{backend.port}"})
    )
    assert httpx.get(f"{served.url}/x").status_code == 500  # uncaught SendError


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def sockets_to(pid: int, port: int) -> int:
    """TCP sockets of process ``pid`` connected to 127.0.0.1:``port`` (any state)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes and int(fields[2].split(":")[1], 16) == port:
            count += 1
    return count


def abort_upload(port: int, path: str, method: str = "POST") -> None:
    """Send a head announcing 10 MB, 64 KiB of it, then hang up."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n".encode()
            + b"u" * 65536
        )
        time.sleep(0.02)


def settle(measure: Callable[[], int], target: int, timeout: float = 15) -> int:
    """Poll ``measure`` until it is at most ``target`` (or time runs out); its last value."""
    deadline = time.monotonic() + timeout
    value = measure()
    while value > target and time.monotonic() < deadline:
        time.sleep(0.1)
        value = measure()
    return value


def test_aborted_uploads_streamed_by_send_leak_nothing(make_project, serve, backend):
    served = serve(make_project(FORWARD_APP, backends={"origin": backend.url}))
    port = int(served.url.rsplit(":", 1)[1])
    pid = served.child.pid
    assert httpx.post(f"{served.url}/count", content=b"abc").text == "3"  # warm up
    abort_upload(port, "/count")
    time.sleep(0.5)
    before = fd_count(pid)
    for _ in range(100):
        abort_upload(port, "/count")
    after = settle(lambda: fd_count(pid), before + 5)
    assert after <= before + 5, f"{after - before} more fds after 100 aborted uploads"
    assert settle(lambda: sockets_to(pid, backend.port), 1) <= 1  # at most the pooled one
    assert httpx.post(f"{served.url}/count", content=b"abcd").text == "4"
