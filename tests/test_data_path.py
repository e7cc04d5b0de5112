"""The request path end to end: framing refused at the front door, the app's thread model, and
what a client that stalls or leaves costs (nothing, once it is gone)."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

ECHO_APP = """
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    if req.get_path() == "/send":
        req.send("origin").send_to_client()
        return
    Response.from_body(req.take_body_bytes()).send_to_client()
"""


def raw(url: str, data: bytes, *, timeout: float = 10) -> bytes:
    """Send ``data`` on a fresh connection; everything the server sends until it closes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def wait_until(check, timeout: float = 10.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# -- framing -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/send"])
def test_a_request_with_both_content_length_and_chunked_is_refused(
    make_project, serve, backend, path
):
    """RFC 9112 §6.1: never both onward (Pushpin 1.36 would de-chunk and keep the length)."""
    served = serve(make_project(ECHO_APP, backends={"origin": backend.url}))
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(smuggled), smuggled)
    answer = raw(
        served.url,
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
        + body,
    )
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"connection: close" in answer.lower()
    assert answer.count(b"HTTP/1.1") == 1  # the connection was closed, nothing more answered
    assert "/smuggled" not in served.child.stdout


def test_a_malformed_chunked_body_read_by_the_app_is_a_400(make_project, serve):
    served = serve(make_project(ECHO_APP))
    answer = raw(
        served.url,
        b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\nxx\r\n0\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b"Traceback" not in answer and b"compute_emu" not in answer


def test_an_unread_expect_100_continue_body_closes_the_connection_at_once(make_project, serve):
    served = serve(
        make_project(
            "from compute_emu.sdk import Response\ndef main():\n"
            "    Response.from_status(403).send_to_client()\n"
        )
    )
    started = time.monotonic()
    answer = raw(
        served.url,
        b"POST / HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
        b"Content-Length: 100000\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 403 ")
    assert b"connection: close" in answer.lower()  # the client knows not to send the body
    assert time.monotonic() - started < 2  # and is not kept waiting (it was 10 s)


# -- the app's thread --------------------------------------------------------------------

BLOCKING_APP = """
import time
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    if req.get_path() == "/slow":
        print("sleeping")
        time.sleep(2)
    Response.from_body("done").send_to_client()
"""


def test_a_blocking_main_never_delays_another_client(make_project, serve):
    served = serve(make_project(BLOCKING_APP))
    host, port = served.url.removeprefix("http://").split(":")
    slow = []
    for _ in range(20):
        sock = socket.create_connection((host, int(port)), timeout=30)
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        slow.append(sock)
    try:
        wait_until(lambda: served.child.stdout.count("sleeping") == 20, what="20 sleeping apps")
        started = time.monotonic()
        fast = raw(
            served.url, b"GET /fast HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        waited = time.monotonic() - started
        assert fast.endswith(b"done")
        # not a speed target: the point is that it did not wait for the 2 s sleeps
        assert waited < 0.5, f"a quick request waited {waited:.3f} s behind blocked ones"
        for sock in slow:
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in slow:
            sock.close()


@pytest.mark.parametrize(
    "raise_it", ["sys.exit(2)", "raise KeyboardInterrupt", "raise BaseException('bare')"]
)
def test_main_exiting_or_raising_base_exception_answers_500_and_serving_goes_on(
    make_project, serve, raise_it
):
    app = f"""
import sys
from compute_emu.sdk import Request, Response

def main():
    if Request.from_client().get_path() == "/die":
        {raise_it}
    Response.from_body("alive").send_to_client()
"""
    served = serve(make_project(app))
    assert httpx.get(f"{served.url}/die").status_code == 500
    assert httpx.get(f"{served.url}/").text == "alive"
    assert served.child.proc.poll() is None


# -- stalls and departures ---------------------------------------------------------------

BODY_APP = """
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    if req.get_path() == "/upload":
        Response.from_body(str(len(req.take_body_bytes()))).send_to_client()
        return
    Response.from_body("ok").send_to_client()
"""


def test_stalled_uploads_time_out_and_never_starve_other_requests(make_project, serve):
    """300 uploads stalled after one byte used to hold every app thread (256) forever."""
    served = serve(make_project(BODY_APP), "--body-timeout", "1")
    host, port = served.url.removeprefix("http://").split(":")
    stalled = []
    for _ in range(300):
        sock = socket.create_connection((host, int(port)), timeout=30)
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\nx")
        stalled.append(sock)
    try:
        r = httpx.get(f"{served.url}/", timeout=20)
        assert r.text == "ok"
        first = stalled[0].recv(65536)
        assert first.startswith(b"HTTP/1.1 408 "), first[:100]
    finally:
        for sock in stalled:
            sock.close()


class StalledBackend:
    """Accepts connections, reads the request, never answers; records when a peer hangs up."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.hung_up = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            while conn.recv(65536):
                pass
        with self._lock:
            self.hung_up += 1

    def close(self) -> None:
        self.listener.close()


def test_a_client_leaving_while_main_waits_on_a_stalled_backend_frees_everything(
    make_project, serve
):
    backend = StalledBackend()
    try:
        project = make_project(ECHO_APP, backends={"origin": f"http://127.0.0.1:{backend.port}/"})
        served = serve(project)
        pid = served.child.pid
        httpx.get(f"{served.url}/")  # warm: the first request starts a worker thread
        fds_before = fd_count(pid)
        host, port = served.url.removeprefix("http://").split(":")
        clients = []
        for i in range(10):  # a Host each: the cache would collapse one URL into one call
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(b"GET /send HTTP/1.1\r\nHost: c%d.localhost\r\n\r\n" % i)
            clients.append(sock)
        wait_until(lambda: backend.accepted == 10, what="the backend calls")
        for sock in clients:
            sock.close()
        # the app's pending send() is cancelled: its backend socket closes, main() returns
        wait_until(lambda: backend.hung_up == 10, what="the backend sockets to close")
        wait_until(lambda: fd_count(pid) <= fds_before, what="fds to come back")
        served.child.wait_for(r"GET /send --- .*client went away")
    finally:
        backend.close()


READ_CHUNKS_APP = """
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    total = 0
    for chunk in req.read_body_chunks(65536):
        total += len(chunk)
    Response.from_body(str(total)).send_to_client()
"""


def peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]


def test_a_body_read_in_chunks_is_not_kept_for_a_handoff(make_project, serve):
    """A 300 MB upload read in chunks peaked at 323 MB: every chunk was kept for a handoff."""
    served = serve(make_project(READ_CHUNKS_APP))
    size = 300 * 1024 * 1024
    piece = b"u" * (1 << 20)

    def body():  # type: ignore[no-untyped-def]
        for _ in range(size // len(piece)):
            yield piece

    r = httpx.post(f"{served.url}/", content=body(), timeout=120)
    assert r.text == str(size)
    assert peak_rss_kib(served.child.pid) < 100 * 1024
