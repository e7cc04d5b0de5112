"""1,000 of each way a client can abort: compute-emu's fds and threads come back where they were.

Each kind runs 1,000 times (20 clients at once), then the test waits for the counts of the
compute-emu process to settle back to their value before (a small slack for the worker pool,
whose idle threads stay for a while, and for keep-alive connections to backends).
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fanout_support import start_fanout
from tests.test_data_path import StalledBackend

ABORTS = 1000
AT_ONCE = 20

APP = """
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    path = req.get_path()
    if path.startswith("/stream") or path.startswith("/upload-handoff"):
        req.handoff_fanout("origin")
    elif path == "/stalled":
        req.send("stalled").send_to_client()
    else:
        req.send("origin").send_to_client()
"""


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def settle(pid: int, fds_before: int, threads_before: int, what: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        now_fds, now_threads = fds(pid), threads(pid)
        # the worker pool may keep up to AT_ONCE idle threads; pooled keep-alive sockets too
        if now_fds <= fds_before + 4 and now_threads <= threads_before + AT_ONCE:
            return
        assert time.monotonic() < deadline, (
            f"after {ABORTS} {what}: fds {fds_before} -> {now_fds}, "
            f"threads {threads_before} -> {now_threads}"
        )
        time.sleep(0.2)


def run_many(abort: Callable[[], None]) -> None:
    with ThreadPoolExecutor(AT_ONCE) as pool:
        for future in [pool.submit(abort) for _ in range(ABORTS)]:
            future.result()


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


@pytest.fixture
def emulator(make_project, serve, origin):  # type: ignore[no-untyped-def]
    stalled = StalledBackend()
    project = make_project(
        APP,
        backends={
            "origin": f"http://127.0.0.1:{origin}/",
            "stalled": f"http://127.0.0.1:{stalled.port}/",
        },
        extra="[local_server.pushpin]\nenable = true",
    )
    fanout = start_fanout(serve, project, "-q")
    yield fanout, stalled
    stalled.close()


def test_a_thousand_of_each_abort_leave_nothing_behind(emulator):  # type: ignore[no-untyped-def]
    fanout, stalled = emulator
    url, pid = fanout.url, fanout.served.child.pid
    with connect(url) as warm:  # one request first: a worker thread and a pooled socket
        warm.sendall(b"GET /ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        while warm.recv(65536):
            pass
    fds_before, threads_before = fds(pid), threads(pid)

    def upload_through_send() -> None:
        with connect(url) as sock:
            sock.sendall(
                b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n"
            )
            sock.sendall(b"x" * 1000)
        # closed half-way through the body

    def upload_through_handoff() -> None:
        with connect(url) as sock:
            sock.sendall(
                b"POST /upload-handoff HTTP/1.1\r\nHost: localhost\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n"
            )

    def held_stream_of_a_closing_client() -> None:
        with connect(url) as sock:
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while b"stream open" not in data:
                chunk = sock.recv(4096)
                if not chunk:  # Pushpin refused a burst: still an abort of ours
                    return
                data += chunk

    calls = itertools.count()

    def leave_while_main_waits() -> None:
        # a URL of its own each time: the cache would collapse one URL into one backend call
        with connect(url) as sock:
            target = f"/stalled?n={next(calls)}".encode()
            sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
            time.sleep(0.02)

    for what, abort in [
        ("uploads aborted while send() streamed them", upload_through_send),
        ("uploads aborted during a handoff", upload_through_handoff),
        ("held streams closed by Connection: close clients", held_stream_of_a_closing_client),
        ("clients leaving while main() waited on a stalled backend", leave_while_main_waits),
    ]:
        run_many(abort)
        settle(pid, fds_before, threads_before, what)
    assert fanout.served.child.proc.poll() is None
    assert "Traceback" not in fanout.served.child.stderr
    # every stalled backend call was let go (its thread counts the hang-up a moment later)
    deadline = time.monotonic() + 10
    while stalled.hung_up < stalled.accepted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stalled.hung_up == stalled.accepted
    assert threading.active_count() >= 1
