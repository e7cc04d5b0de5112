"""What one misbehaving client can hold of the server, and that a well-behaved request is still
served meanwhile: app threads (a dripping upload, a client that never reads a streamed
answer), connections (idle ones past the file-descriptor limit, busy ones past
--max-connections), memory (clients that never read a large answer). Pushpin's connections
are in tests/test_resource_limits_fanout.py."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.support.processes import python_module
from tests.test_data_path import fd_count, thread_count, wait_until

APP = """
import time
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    path = req.get_path()
    if path == "/upload":
        Response.from_body(str(len(req.take_body_bytes()))).send_to_client()
    elif path == "/stream":
        body = Response().stream_to_client()
        for _ in range(160):
            body.write(b"x" * 65536)
        body.finish()
    elif path == "/body":
        Response.from_body(b"x" * (8 << 20)).send_to_client()
    elif path == "/slow":
        print("sleeping")
        time.sleep(3)
        Response.from_body("slow").send_to_client()
    else:
        Response.from_body("fast").send_to_client()
"""
UPLOAD_HEAD = b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n"
FAST_LIMIT = 5.0  # what a well-behaved client waits (not a speed target: the attack's bound)


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def fast(url: str, timeout: float = FAST_LIMIT) -> str:
    return httpx.get(f"{url}/fast", timeout=timeout).text


def established(sock: socket.socket) -> bool:
    """Still open at the TCP level (tcpi_state 1), whatever is left unread in it."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] == 1


@contextmanager
def dripping(url: str, clients: int) -> Iterator[list[socket.socket]]:
    """``clients`` uploads of 1,000 bytes, each sending one byte a second."""
    socks = [socket.create_connection(address(url), timeout=30) for _ in range(clients)]
    for sock in socks:  # (connected first: each then drips from its first byte on)
        sock.sendall(UPLOAD_HEAD + b"x")
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(1.0):
            for sock in socks:
                with contextlib.suppress(OSError):  # answered and closed
                    sock.send(b"x", socket.MSG_DONTWAIT)

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        yield socks
    finally:
        stop.set()
        dripper.join()
        for sock in socks:
            sock.close()


@contextmanager
def not_reading(url: str, path: str, clients: int) -> Iterator[list[socket.socket]]:
    """``clients`` requests for ``path`` whose answers are never read (a 4 KiB window)."""
    socks = []
    for _ in range(clients):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(address(url))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        socks.append(sock)
    try:
        yield socks
    finally:
        for sock in socks:
            sock.close()


# -- app threads ---------------------------------------------------------------------------


def test_a_dripping_upload_never_holds_the_app_threads(make_project, serve):
    """270 uploads at a byte a second held all 256 app threads for as long as they dripped
    (--body-timeout bounds a stall, not an upload): every other request timed out."""
    served = serve(make_project(APP), "--body-timeout", "3")
    pid = served.child.pid
    with dripping(served.url, 270) as drippers:
        for _ in range(3):
            assert fast(served.url) == "fast"
            time.sleep(1)
        assert thread_count(pid) < 32  # not one per dripper: they never reach main()
        answer = drippers[0].recv(65536)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"below the minimum of 240 bytes/s" in answer
    assert fast(served.url) == "fast"


def test_an_upload_above_the_minimum_rate_is_served_however_long_it_takes(make_project, serve):
    served = serve(make_project(APP), "--body-timeout", "3")
    with socket.create_connection(address(served.url), timeout=30) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3500\r\n\r\n")
        for _ in range(7):  # 500 bytes a second for 7 s: past the 5 s grace, above 240/s
            sock.sendall(b"y" * 500)
            time.sleep(1.0)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"3500"), answer


def test_clients_that_never_read_a_streamed_answer_give_its_threads_back(make_project, serve):
    """A stream_to_client() app writing to clients that read nothing held a thread each,
    for ever; now each is closed once it takes less than 240 bytes/s after 5 s."""
    served = serve(make_project(APP), "--max-threads", "4")
    with not_reading(served.url, "/stream", 6) as readers:
        assert fast(served.url, timeout=60) == "fast"  # once the first thread is given back
        wait_until(lambda: not any(map(established, readers)), 60, "the readers closed")
        assert fast(served.url) == "fast"
    assert "the client took the response at" in served.child.stderr


# -- connections ---------------------------------------------------------------------------


def serve_with_fd_limit(spawn, project, limit: int, *args: str) -> str:  # type: ignore[no-untyped-def]
    """`compute-emu serve` with RLIMIT_NOFILE at ``limit`` (soft and hard); its URL."""
    launcher = (
        "import os, resource, sys; "
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit})); "
        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
    )
    serve_args = python_module("compute_emu", "serve", "-C", str(project), "--addr", "127.0.0.1:0")
    child = spawn([sys.executable, "-c", launcher, *serve_args[1:], *args])
    return child.wait_for(r"Listening on (http://\S+)").group(1)


def test_idle_connections_past_the_fd_limit_never_lock_others_out(make_project, spawn):
    """400 connections that send nothing used every file descriptor the process had (300):
    accept() failed and no one else was served. Now the server holds at most half its
    descriptors in connections, and the one waiting longest for a request gives way."""
    url = serve_with_fd_limit(spawn, make_project(APP), 300)
    idle = []
    try:
        for _ in range(400):
            idle.append(socket.create_connection(address(url), timeout=30))
        assert fast(url) == "fast"
        assert fast(url) == "fast"
        closed = [sock for sock in idle if not established(sock)]
        assert len(closed) >= 400 - 64  # the oldest gave way (64: the floor of the default)
    finally:
        for sock in idle:
            sock.close()


def test_when_every_connection_is_busy_a_newcomer_gets_503_then_is_served(make_project, serve):
    served = serve(make_project(APP), "--max-connections", "4")
    results: list[str] = []

    def slow() -> None:
        results.append(httpx.get(f"{served.url}/slow", timeout=30).text)

    busy = [threading.Thread(target=slow) for _ in range(4)]
    for thread in busy:
        thread.start()
    wait_until(lambda: served.child.stdout.count("sleeping") == 4, what="four main() calls")
    refused = httpx.get(f"{served.url}/fast", timeout=10)
    assert refused.status_code == 503
    assert "--max-connections" in refused.text
    for thread in busy:
        thread.join()
    assert results == ["slow"] * 4
    assert fast(served.url) == "fast"


# -- memory --------------------------------------------------------------------------------


def test_clients_that_never_read_a_large_answer_give_its_memory_back(make_project, serve):
    """Each of 12 clients that never read an 8 MiB answer kept it in memory (16 MiB with
    its copy) for as long as it stayed connected; now each is reset once it takes less than
    240 bytes/s after 5 s, and its memory and descriptors go with it."""
    served = serve(make_project(APP))
    pid = served.child.pid
    assert fast(served.url) == "fast"
    before = fd_count(pid)
    with not_reading(served.url, "/body", 12) as readers:
        assert fast(served.url) == "fast"
        wait_until(lambda: not any(map(established, readers)), 60, "the readers reset")
        wait_until(lambda: fd_count(pid) <= before, 10, "their descriptors closed")
        assert fast(served.url) == "fast"
