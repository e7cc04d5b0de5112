"""Helpers shared by the Fanout tests: projects with Pushpin enabled, publishing, streaming."""

from __future__ import annotations

import contextlib
import http.client
import queue
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import Served
from tests.support.ports import free_port

FORWARD_APP = """
from compute_emu.sdk import Request

def main():
    req = Request.from_client()
    backend = req.get_header("x-backend") or "origin"
    if req.get_method() in ("GET", "HEAD"):
        req.handoff_fanout(backend)
    else:
        req.send(backend).send_to_client()
"""


def require_pushpin() -> None:
    """Tests that need Pushpin use the real one; in CI its absence is a failure."""
    if shutil.which("pushpin") is None:
        import os

        if os.environ.get("CI") or os.environ.get("COMPUTE_EMU_NO_SKIP"):
            pytest.fail("pushpin is not installed (.ci/run installs it with apt-get)")
        pytest.skip("pushpin is not installed (apt-get install pushpin)")


@dataclass
class Fanout:
    served: Served
    proxy_port: int
    publish_port: int

    @property
    def url(self) -> str:
        return self.served.url

    def publish(self, item: dict[str, object]) -> httpx.Response:
        r = httpx.post(f"http://127.0.0.1:{self.publish_port}/publish/", json={"items": [item]})
        assert r.status_code == 200, r.text
        return r


def start_fanout(
    serve: Callable[..., Served],
    project: Path,
    *args: str,
    proxy: int | None = None,
    publish: int | None = None,
) -> Fanout:
    """``serve(project, ...)`` with Pushpin on ``proxy``/``publish`` (free ports if not given)."""
    require_pushpin()
    proxy, publish = proxy or free_port(), publish or free_port()
    served = serve(
        project,
        "-v",
        "--pushpin-proxy-port",
        str(proxy),
        "--pushpin-publish-port",
        str(publish),
        *args,
    )
    served.child.snapshot_descendants()
    return Fanout(served, proxy, publish)


class LineReader:
    """Reads a streamed response line by line in a thread, so tests can wait for lines.

    ``close()`` shuts the socket down, which also ends a read blocked in the thread. The
    socket is kept from before ``getresponse()``: on a ``Connection: close`` response (a
    relayed held stream always is one) http.client drops ``_conn.sock`` while the response
    still reads from it, so the connection no longer knows the socket to wake.
    """

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.status: int | None = None
        self.headers: httpx.Headers | None = None
        self.done = threading.Event()
        parts = urlsplit(url)
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self._target = parts.path + (f"?{parts.query}" if parts.query else "")
        self._sock: socket.socket | None = None
        self._closing = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, args=(headers or {},), daemon=True)
        self._thread.start()

    def _run(self, headers: dict[str, str]) -> None:
        try:
            with self._lock:  # close() either comes first (no connection) or sees the socket
                if self._closing:
                    return
                self._conn.connect()
                self._sock = self._conn.sock
            self._conn.request("GET", self._target, headers=headers)
            self._sock.settimeout(None)  # held streams may stay quiet for long
            response = self._conn.getresponse()
            self.status, self.headers = response.status, httpx.Headers(response.getheaders())
            while line := response.readline():
                self.lines.put(line.decode().rstrip("\r\n"))
        except (OSError, http.client.HTTPException) as exc:
            self.lines.put(f"<error {type(exc).__name__}>")
        finally:
            self.done.set()

    def next_line(self, timeout: float = 10) -> str:
        return self.lines.get(timeout=timeout)

    def wait_for(self, text: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            if text in line:
                return line

    def close(self) -> None:
        with self._lock:
            self._closing = True
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)
        assert not self._thread.is_alive(), "the reader thread outlived its shut-down socket"
        self._conn.close()
        if self._sock is not None:
            self._sock.close()


def publish_until(
    fanout: Fanout, item: dict[str, object], arrived: Callable[[], bool], timeout: float = 10
) -> None:
    """Publish again until the subscriber sees it (the subscription may still be settling)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fanout.publish(item)
        if arrived():
            return
    raise AssertionError(f"{item} never arrived")
