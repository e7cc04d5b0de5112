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
from compute_emu.rules.http1_client import ClientProtocol


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


@pytest.mark.parametrize(
    ("connection", "forwarded"),
    [
        (b"keep-alive", True),
        (b"Keep-Alive", True),
        (b"close", True),
        (b"keep-alive, close", True),
        (b"keep-alive, X-Hop", False),  # names a header: hop-by-hop, both dropped
        (b"Upgrade", False),  # send() does not switch protocols
    ],
)
def test_the_apps_connection_header_goes_on_when_it_only_keeps_alive_or_closes(
    connection: bytes, forwarded: bool
) -> None:
    headers = [("Connection", connection), ("X-Hop", b"1"), ("Keep-Alive", b"timeout=5")]
    out = backend_request(config(), "GET", "http://client.test/x", headers, 0).headers
    expected = [("Host", b"client.test")] + ([("Connection", connection)] if forwarded else [])
    if b"x-hop" not in connection.lower():  # an ordinary header unless Connection names it
        expected.append(("X-Hop", b"1"))
    assert out == expected


def test_a_copied_browser_request_goes_out_as_viceroy_sends_it():
    """Byte for byte what Viceroy (hyper 0.14) writes for the official SDK's example that
    copies the client's headers (fastly/compute-sdk-python test_static_get_request): names in
    lower case, the app's own ``connection: keep-alive`` in its place, framing by hyper."""
    app = [
        ("Host", b"http-me.fastly.dev"),
        ("Content-Type", b""),
        ("Connection", b"keep-alive"),
        ("User-Agent", b"python-requests/2.34.2"),
        ("Accept-Encoding", b"gzip, deflate"),
        ("Accept", b"*/*"),
    ]
    out = backend_request(config(), "GET", "https://http-me.fastly.dev/json", app, 0)
    protocol = ClientProtocol()
    assert protocol.send_request(out.method, out.target, out.headers) == AS_VICEROY_SENDS_IT


AS_VICEROY_SENDS_IT = (
    b"GET /json HTTP/1.1\r\n"
    b"host: http-me.fastly.dev\r\n"
    b"content-type: \r\n"
    b"connection: keep-alive\r\n"
    b"user-agent: python-requests/2.34.2\r\n"
    b"accept-encoding: gzip, deflate\r\n"
    b"accept: */*\r\n"
    b"\r\n"
)
