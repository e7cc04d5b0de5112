"""A request body framed the legal but unusual ways (``Content-Length: 5, 5``, a
``Transfer-Encoding`` spelt ``Chunked``) reaches everything that reads it: the app, ``send()``,
a Fanout handoff and a WebSocket-passthrough handoff; and each of those passes it on framed
one way only (``content-length: 5``, ``transfer-encoding: chunked``).

The requests go out on raw sockets: HTTP clients would not send such framing.
"""

from __future__ import annotations

import json
import socket

import pytest

from tests.fanout_support import start_fanout

APP = """
import json
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    route = req.get_path().split("/")[1]
    if route == "read":
        body = req.take_body_bytes()
        Response.from_body(json.dumps({"body": body.decode()})).send_to_client()
    elif route == "send":
        req.send("origin").send_to_client()
    elif route == "fanout":
        req.handoff_fanout("origin")
    else:
        req.handoff_websocket("origin")
"""

LISTED = b"Content-Length: 5, 5\r\n\r\nhello"  # one line, a list of equal values
REPEATED = b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"  # two equal lines
CHUNKED = b"Transfer-Encoding: Chunked\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n"
SHOUTED = b"Transfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n"


def exchange(url: str, path: str, framing_and_body: bytes) -> tuple[int, bytes]:
    """One PUT with the given framing lines and body; (status, body) of the answer."""
    port = int(url.rsplit(":", 1)[1])
    head = f"PUT /{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head + framing_and_body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head_bytes.lower():
        body = _dechunk(body)
    return status, body


def _dechunk(data: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return out
        out, data = out + data[:size], data[size + 2 :]


def seen_by_backend(body: bytes) -> tuple[str, list[tuple[str, str]]]:
    """What the backend's echo saw: the body and the framing headers."""
    info = json.loads(body)
    framing = [
        (name.lower(), value)
        for name, value in info["headers"]
        if name.lower() in ("content-length", "transfer-encoding")
    ]
    return info["body"], framing


@pytest.mark.parametrize("framing", [LISTED, REPEATED, CHUNKED, SHOUTED])
def test_the_app_reads_the_body(make_project, serve, framing: bytes) -> None:
    served = serve(make_project(APP))
    status, body = exchange(served.url, "read", framing)
    assert (status, json.loads(body)) == (200, {"body": "hello"})


@pytest.mark.parametrize(
    ("framing", "forwarded"),
    [
        (LISTED, [("content-length", "5")]),
        (CHUNKED, [("transfer-encoding", "chunked")]),
        (SHOUTED, [("transfer-encoding", "chunked")]),
    ],
)
def test_send_and_both_handoffs_pass_it_on_framed_one_way(
    make_project, serve, backend, framing: bytes, forwarded: list[tuple[str, str]]
) -> None:
    project = make_project(
        APP,
        backends={"origin": backend.url},
        extra="[local_server.pushpin]\nenable = true",
    )
    fanout = start_fanout(serve, project)
    for route in ("send", "fanout", "websocket"):
        status, body = exchange(fanout.url, f"{route}/echo", framing)
        assert status == 200, (route, body)
        seen, seen_framing = seen_by_backend(body)
        assert seen == "hello", route
        if route != "fanout":  # Pushpin frames what it forwards itself
            assert seen_framing == forwarded, route
