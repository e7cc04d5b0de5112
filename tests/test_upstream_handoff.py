"""End to end through a real Pushpin: what a client's request can and cannot choose in a
handoff (its route, its framing), and that an aborted handoff leaves nothing behind."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from compute_emu.pushpin.config import PROBE_CLIENT_ROUTE
from tests.test_upstream_e2e import abort_upload, fd_count, settle, sockets_to


@pytest.fixture
def fanout(shared_fanout):  # type: ignore[no-untyped-def]
    """One compute-emu with Pushpin for this module's tests (tests/conftest.py)."""
    return shared_fanout


def test_the_clients_pushpin_route_never_picks_the_backend(fanout):
    r = httpx.get(f"{fanout.url}/info", headers={"Pushpin-Route": "prefixed"})
    info = r.json()
    assert info["path"] == "/info"  # the app's backend (origin), not /realtime/info
    assert info["grip_sig"] == "valid"
    both = httpx.get(
        f"{fanout.url}/info",
        headers=[("Pushpin-Route", "prefixed"), ("Pushpin-Route", "origin")],
    ).json()
    assert both["path"] == "/info"
    prefixed = httpx.get(
        f"{fanout.url}/info", headers={"x-backend": "prefixed", "Pushpin-Route": "origin"}
    ).json()
    assert prefixed["path"] == "/realtime/info"


def test_the_readiness_route_is_not_reachable_from_a_client(fanout):
    r = httpx.get(f"{fanout.url}/publish/", headers={"Pushpin-Route": PROBE_CLIENT_ROUTE})
    assert r.headers.get("x-grip-sig") == "valid", r.text  # answered by the origin
    assert r.json()["path"] == "/publish/"


def _exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        received = b""
        s.settimeout(3)
        try:
            while chunk := s.recv(65536):
                received += chunk
        except TimeoutError:
            pass
        return received


def test_a_request_with_both_framings_smuggles_nothing_through_a_handoff(fanout):
    port = int(fanout.url.rsplit(":", 1)[1])
    hidden = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(hidden) + 4, b"abcd" + hidden)
    head = (
        b"GET /info HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    answer = _exchange(port, head + body)
    assert b'"path": "/smuggled"' not in answer
    assert answer.count(b"HTTP/1.1 ") <= 1, answer
    for _ in range(5):
        info = httpx.get(f"{fanout.url}/info").json()
        assert info["path"] == "/info", info


def test_aborted_uploads_in_a_handoff_leak_nothing(fanout):
    port = int(fanout.url.rsplit(":", 1)[1])
    pid = fanout.served.child.pid
    assert httpx.get(f"{fanout.url}/info").json()["grip_sig"] == "valid"  # warm up
    abort_upload(port, "/info", method="GET")
    time.sleep(0.5)
    before = fd_count(pid)
    for _ in range(100):
        abort_upload(port, "/info", method="GET")
    after = settle(lambda: fd_count(pid), before + 5)
    assert after <= before + 5, f"{after - before} more fds after 100 aborted handoffs"
    assert settle(lambda: sockets_to(pid, fanout.proxy_port), 1) <= 1
    assert httpx.get(f"{fanout.url}/info").json()["grip_sig"] == "valid"
    assert "Traceback" not in fanout.served.child.stderr
