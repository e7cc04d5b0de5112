"""Pushpin's connections: held streams a client never reads, and handoffs whose body drips,
do not hold up a well-behaved subscriber or a plain request (Pushpin and the relay buffer
per connection; the relay pauses the slow side)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

import httpx

from tests.fanout_support import LineReader
from tests.test_resource_limits import address, established

MESSAGES = 1000
BATCH = 50
LINE = "x" * 1000


def test_slow_subscribers_and_dripping_handoffs_do_not_hold_up_others(fanout):
    host, port = address(fanout.url)
    stalled = []
    for _ in range(60):  # held streams whose client reads nothing (a 4 KiB window)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, port))
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n")
        stalled.append(sock)
    dripping = [socket.create_connection((host, port)) for _ in range(30)]
    for sock in dripping:  # handoffs with a body sent a byte a second
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\nx")
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(1.0):
            for sock in dripping:
                with contextlib.suppress(OSError):
                    sock.send(b"x", socket.MSG_DONTWAIT)

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    reader = LineReader(f"{fanout.url}/stream")
    try:
        assert reader.next_line() == "stream open"
        # every held stream subscribed (Pushpin says so in its log) before publishing
        deadline = time.monotonic() + 30
        while fanout.served.child.stdout.count("subscribe http") < 61:
            assert time.monotonic() < deadline, "the held streams did not all subscribe"
            time.sleep(0.1)
        with httpx.Client() as client:
            for start in range(0, MESSAGES, BATCH):
                items = [
                    {"channel": "test", "formats": {"http-stream": {"content": f"{n} {LINE}\n"}}}
                    for n in range(start, start + BATCH)
                ]
                r = client.post(
                    f"http://127.0.0.1:{fanout.publish_port}/publish/",
                    content=json.dumps({"items": items}),
                    timeout=30,
                )
                assert r.status_code == 200, r.text
                assert client.get(f"{fanout.url}/info", timeout=10).json()["method"] == "GET"
        for n in range(MESSAGES):  # all of them, in order, to the subscriber that reads
            assert reader.next_line(timeout=30) == f"{n} {LINE}"
        assert any(map(established, stalled))  # (held: nothing said they must go)
    finally:
        stop.set()
        dripper.join()
        reader.close()
        for sock in stalled + dripping:
            sock.close()
