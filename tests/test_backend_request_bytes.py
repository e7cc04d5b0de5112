"""What a backend receives from ``send()``, byte for byte, for both kinds of app: header names in
lower case and the app's own ``Connection: keep-alive`` passed on, as Viceroy (hyper 0.14)
sends them (before: the app's casing, and no ``Connection``). The official SDK's example that
copies the client's headers is the case its snapshot test ``test_static_get_request`` shows."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.official_support import example_project, serve_official
from tests.test_rules_backend import AS_VICEROY_SENDS_IT

BROWSER = {  # what python-requests sends, as the SDK's snapshot test did
    "User-Agent": "python-requests/2.34.2",
    "Accept-Encoding": "gzip, deflate",
    "Accept": "*/*",
    "Connection": "keep-alive",
}


class HeadCapture:
    """A raw-socket backend on 127.0.0.1 that answers each request with the bytes of its head
    (a thread of the test; stopped by the fixture)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.heads: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                data = b""
                while b"\r\n\r\n" not in data and (chunk := conn.recv(65536)):
                    data += chunk
                head = data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                self.heads.append(head)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                    % (len(head), head)
                )

    def stop(self) -> None:
        # a close alone does not wake a thread in accept() (it waited out the join's 5 s)
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)
        assert not self._thread.is_alive(), "the capture's thread outlived its listener"


@pytest.fixture
def capture() -> Iterator[HeadCapture]:
    backend = HeadCapture()
    yield backend
    backend.stop()


SDK_APP = """
from compute_emu.sdk import Request

def main():
    client = Request.from_client()
    req = Request.get("http://http-me.fastly.dev/json")
    for name in ("Content-Type", "Connection", "User-Agent", "Accept-Encoding", "Accept"):
        req.set_header(name, client.get_header(name) or "")
    req.send("origin").send_to_client()
"""


def test_a_compute_emu_sdk_app(make_project, serve, capture: HeadCapture) -> None:
    served = serve(make_project(SDK_APP, backends={"origin": capture.url}))
    r = httpx.get(f"{served.url}/", headers=BROWSER)
    assert r.status_code == 200, r.text
    assert capture.heads == [AS_VICEROY_SENDS_IT]  # the app copies headers in that order


def test_an_official_sdk_app(tmp_path, spawn, capture: HeadCapture) -> None:
    """The SDK's backend-requests example, as its snapshot test drives it."""
    project = example_project(tmp_path, "backend-requests", backends={"test-be": capture.url})
    served = serve_official(spawn, project)
    query = f"url={quote('https://http-me.fastly.dev/json')}&fastly_backend=test-be"
    r = httpx.get(f"{served.url}/proxy/get?{query}", headers=BROWSER)
    assert r.status_code == 200, r.text
    result = json.loads(r.text)
    assert result["success"] is True, result
    # the example copies the client's headers but Host, in the order the app sees them, and
    # bottle adds an empty Content-Type; the SDK puts Host first
    assert capture.heads == [
        b"GET /json HTTP/1.1\r\n"
        b"host: http-me.fastly.dev\r\n"
        b"content-type: \r\n"
        b"user-agent: python-requests/2.34.2\r\n"
        b"accept-encoding: gzip, deflate\r\n"
        b"accept: */*\r\n"
        b"connection: keep-alive\r\n"
        b"\r\n"
    ]
    assert result["response_preview"].encode() == capture.heads[0]  # all of it: < 200 bytes
