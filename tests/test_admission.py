"""The front door's admission rules (pure), and the answers a client gets end to end."""

from __future__ import annotations

import socket

import pytest

from compute_emu.server.admission import (
    HostPolicy,
    check_request,
    parse_authority,
)

DEFAULT = HostPolicy()


def head(host: bytes | None = b"localhost", **extra: bytes) -> list[tuple[bytes, bytes]]:
    headers = [] if host is None else [(b"host", host)]
    return headers + [(name.replace("_", "-").encode(), v) for name, v in extra.items()]


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("localhost", ("localhost", None)),
        ("Example.COM:8080", ("example.com", 8080)),
        ("127.0.0.1:7676", ("127.0.0.1", 7676)),
        ("[::1]:7676", ("[::1]", 7676)),
        ("[::1]", ("[::1]", None)),
        ("127.0.0.1/fast#", None),  # a path pasted into the URL
        ("a b", None),
        ("host:", None),
        ("host:99999", None),
        ("[not-v6]:1", None),
        ("user@host", None),
        ("", None),
        (":80", None),
    ],
)
def test_parse_authority(value: str, parsed: tuple[str, int | None] | None) -> None:
    assert parse_authority(value) == parsed


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "app.localhost",
        "127.0.0.1",
        "127.1.2.3",
        "[::1]",
        "localhost.",
        "a.b.localhost",
    ],
)
def test_loopback_names_are_always_served(host: str) -> None:
    assert DEFAULT.permits(host)


def test_other_names_only_when_allowed() -> None:
    assert not DEFAULT.permits("evil.example")
    assert not DEFAULT.permits("localhost.evil.example")
    assert not DEFAULT.permits("10.0.0.1")
    policy = HostPolicy.build(["App.Test", ".example.com", ""])
    assert policy.permits("app.test") and policy.permits("api.example.com")
    assert not policy.permits("example.org")
    assert HostPolicy.build(["*"]).permits("anything.at.all")


@pytest.mark.parametrize(
    ("method", "target", "version", "headers", "status"),
    [
        (b"GET", b"/", b"1.1", head(), None),
        (b"GET", b"/", b"1.0", head(None), None),  # HTTP/1.0 may omit Host
        (b"get", b"/", b"1.1", head(), None),  # methods are passed on as sent
        (b"GET", b"/", b"9.9", head(), 505),
        (b"PRI", b"*", b"2.0", [], 505),  # the HTTP/2 preface
        (b"OPTIONS", b"*", b"1.1", head(), None),
        (b"GET", b"*", b"1.1", head(), 400),
        (b"GET", b"http://example.com/", b"1.1", head(), 400),
        (b"CONNECT", b"example.com:443", b"1.1", head(), 405),
        (b"GET", b"/public", b"1.1", head(b"127.0.0.1/fast#"), 400),
        (b"GET", b"/", b"1.1", head(b"evil.example"), 403),
        (b"GET", b"/", b"1.1", head(b"evil.example:7676"), 403),
    ],
)
def test_check_request(
    method: bytes,
    target: bytes,
    version: bytes,
    headers: list[tuple[bytes, bytes]],
    status: int | None,
) -> None:
    refusal = check_request(method, target, version, headers, DEFAULT)
    assert (refusal.status if refusal else None) == status


def test_a_blocked_host_is_told_how_to_allow_it() -> None:
    refusal = check_request(b"GET", b"/", b"1.1", head(b"evil.example"), DEFAULT)
    assert refusal is not None
    assert "--allow-host evil.example" in refusal.message


# -- end to end ---------------------------------------------------------------------------

APP = """
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    Response.from_body(f"{req.get_method()} {req.get_path()}").send_to_client()
"""


def exchange(url: str, data: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


@pytest.mark.parametrize(
    ("request_bytes", "status", "body"),
    [
        (b"GET / HTTP/9.9\r\nHost: localhost\r\n\r\n", 505, b""),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, b""),
        (b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 200, b""),
        (b"get /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 200, b"get /x"),
        (b"GET /public HTTP/1.1\r\nHost: 127.0.0.1/fast#\r\n\r\n", 400, b""),
        (b"GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n", 403, b"--allow-host evil.example"),
    ],
)
def test_front_door_answers(make_project, serve, request_bytes, status, body):
    served = serve(make_project(APP))
    answer = exchange(served.url, request_bytes)
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:200]
    assert body in answer
    assert b"Traceback" not in answer


def test_allow_host_and_fastly_toml_hosts_are_served(make_project, serve):
    project = make_project(
        APP, backends={"origin": {"url": "http://127.0.0.1:9/", "override_host": "api.test"}}
    )
    served = serve(project, "--allow-host", "dev.example", "--allow-host", ".wild.test")
    for host in (b"dev.example", b"x.wild.test:80", b"api.test"):
        answer = exchange(
            served.url, b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host
        )
        assert answer.startswith(b"HTTP/1.1 200 "), (host, answer[:200])
