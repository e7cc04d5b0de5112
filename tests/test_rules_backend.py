"""compute_emu.rules.backend: Viceroy's Host, prefix and target rules for send() (no I/O)."""

from __future__ import annotations

import pytest

from compute_emu.manifest.model import BackendConfig
from compute_emu.rules.backend import (
    Destination,
    backend_destination,
    backend_request,
    host_header,
    join_prefix,
    path_and_query,
)


def config(url_host: str = "10.1.2.3", port: int = 8080, **kwargs: object) -> BackendConfig:
    scheme = str(kwargs.pop("scheme", "http"))
    prefix = str(kwargs.pop("path_prefix", ""))
    return BackendConfig(
        name="origin",
        url=f"{scheme}://{url_host}:{port}{prefix}",
        scheme=scheme,
        host=url_host,
        port=port,
        path_prefix=prefix,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("prefix", "path", "expected"),
    [
        ("", "/x?q=1", "/x?q=1"),
        ("/", "/x", "/x"),
        ("/api", "/x", "/api/x"),
        ("/api/", "/x", "/api/x"),
        ("/api", "x", "/api/x"),
        ("/api", "/", "/api/"),
    ],
)
def test_join_prefix(prefix, path, expected):
    assert join_prefix(prefix, path) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h/a/b?c=d", "/a/b?c=d"),
        ("http://h", "/"),
        ("http://h?x", "/?x"),
        ("https://h:1/p%20q", "/p%20q"),
    ],
)
def test_path_and_query(url, expected):
    assert path_and_query(url) == expected


def test_host_header_rule():
    plain = config()
    assert host_header(plain, "http://app.test/x", b"client.test:7676") == "client.test:7676"
    assert host_header(plain, "http://app.test:81/x", None) == "app.test:81"
    assert host_header(plain, "/relative", None) == "10.1.2.3:8080"  # the backend authority
    overridden = config(override_host="example.test")
    assert host_header(overridden, "http://app.test/x", b"client.test") == "example.test"


def test_the_request_url_never_chooses_where_to_connect():
    backend = config(path_prefix="/api")
    outgoing = backend_request(
        backend, "GET", "http://evil.test:1/x?y", [("Host", b"evil.test:1")], 0
    )
    assert outgoing.destination == Destination("10.1.2.3", 8080)
    assert outgoing.target == "/api/x?y"
    assert outgoing.headers[0] == ("Host", b"evil.test:1")


def test_tls_destination_and_connect_timeout():
    backend = config(url_host="backend.test", port=443, scheme="https", cert_host="cert.test")
    assert backend_destination(backend) == Destination(
        "backend.test", 443, tls=True, server_hostname="cert.test"
    )
    plain_tls = config(url_host="b.test", port=443, scheme="https")
    assert backend_destination(plain_tls).server_hostname == "b.test"
    timed = config(connect_timeout_ms=250)
    assert backend_destination(timed).connect_timeout == 0.25
    assert backend_destination(timed).label == "10.1.2.3:8080"


def test_what_send_forwards():
    headers = [
        ("Host", b"client.test"),
        ("Connection", b"keep-alive, X-Hop"),
        ("X-Hop", b"1"),
        ("Expect", b"100-continue"),
        ("Content-Length", b"999"),
        ("Transfer-Encoding", b"chunked"),
        ("TE", b"trailers"),
        ("Upgrade", b"websocket"),
        ("Proxy-Authorization", b"secret"),
        ("Pushpin-Route", b"other"),
        ("X-Kept", b"yes"),
        ("host", b"second.test"),
    ]
    streamed = backend_request(config(), "PUT", "http://client.test/x", headers, None)
    assert streamed.headers == [
        ("Host", b"client.test"),
        ("Pushpin-Route", b"other"),  # an ordinary header for a backend
        ("X-Kept", b"yes"),
        ("transfer-encoding", b"chunked"),
    ]
    sized = backend_request(config(), "POST", "http://client.test/x", headers, 3)
    assert sized.headers[-1] == ("content-length", b"3")
    assert [n for n, _ in sized.headers].count("Host") == 1
    empty = backend_request(config(), "GET", "http://client.test/x", [], 0)
    assert empty.headers == [("Host", b"client.test")]
    assert empty.method == "GET"
