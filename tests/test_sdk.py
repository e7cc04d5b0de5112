"""Unit tests for the app-facing SDK (compute_emu.sdk), with a fake host; no sockets."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import compute_emu.sdk as sdk
from compute_emu.sdk import Body, HeaderMap, Request, Response, SendError, SendErrorCause
from compute_emu.sdk._host import bind_host
from compute_emu.sdk._interface import (
    BackendResponse,
    BodyParts,
    Candidate,
    ClientRequestParts,
    HandoffKind,
    OutgoingRequest,
    OutgoingResponse,
)


class ListStream:
    """A BodyStream fed from a list of chunks; counts reads."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.reads = 0

    def read_chunk(self) -> bytes:
        self.reads += 1
        return self.chunks.pop(0) if self.chunks else b""


@dataclass
class FakeHost:
    """Implements the Host protocol's client and send calls; records every call (values)."""

    parts: ClientRequestParts | None = None
    fail_with: SendError | None = None
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    taken: bool = False
    sent: bool = False

    def take_client_request(self) -> ClientRequestParts:
        if self.taken or self.parts is None:
            raise RuntimeError("Request.from_client() may only be called once")
        self.taken = True
        return self.parts

    def send(self, request: OutgoingRequest, backend: str) -> BackendResponse:
        self.calls.append(("send", request, backend))
        if self.fail_with is not None:
            raise self.fail_with
        body = ListStream([b"from ", backend.encode()])
        return BackendResponse(200, "HTTP/1.1", (("X-B", b"1"),), body, backend)

    def send_to_client(self, response: OutgoingResponse) -> None:
        if self.sent:
            raise RuntimeError("a response was already sent")
        self.sent = True
        self.calls.append(("send_to_client", response))

    def handoff(self, request: OutgoingRequest, backend: str, kind: HandoffKind) -> None:
        self.calls.append(("handoff", request, backend, kind))


def client_parts(
    body: ListStream | None = None, headers: list[tuple[str, bytes]] | None = None
) -> ClientRequestParts:
    return ClientRequestParts(
        method="POST",
        url="http://127.0.0.1:7676/path/x?a=1&b=two&a=3",
        version="HTTP/1.1",
        headers=tuple(headers) if headers is not None else (("Host", b"127.0.0.1:7676"),),
        body=body,
        client_ip=ipaddress.ip_address("127.0.0.1"),
        request_id=f"{0:032x}",
    )


@pytest.fixture
def host() -> Iterator[FakeHost]:
    fake = FakeHost(parts=client_parts(ListStream([b"hello ", b"world"])))
    with bind_host(fake):
        yield fake


# -- package surface ------------------------------------------------------------------------


def test_public_exports() -> None:
    core = {"Body", "HeaderMap", "Request", "Response", "SendError", "SendErrorCause"}
    platform = {"Backend", "ConfigStore", "KVStore", "SecretStore", "Acl", "Endpoint"}
    assert core | platform <= set(sdk.__all__)
    assert {"geo_lookup", "device_lookup", "select", "StreamingBody"} <= set(sdk.__all__)
    assert len(sdk.__all__) == len(set(sdk.__all__))
    for name in sdk.__all__:
        assert getattr(sdk, name).__doc__


# -- HeaderMap ------------------------------------------------------------------------------


def test_headermap_case_insensitive_multimap() -> None:
    headers = HeaderMap([("X-One", "a"), ("Accept", b"b"), ("x-one", "c")])
    assert headers.get("x-ONE") == b"a"
    assert headers.get_all("X-One") == [b"a", b"c"]
    assert headers.names() == ["X-One", "Accept"]  # first spelling kept, grouped in order
    assert headers.items() == [("X-One", b"a"), ("X-One", b"c"), ("Accept", b"b")]
    assert "accept" in headers and headers.contains("ACCEPT")
    assert len(headers) == 3
    headers.set("X-ONE", "z")
    assert headers.items() == [("X-One", b"z"), ("Accept", b"b")]
    assert headers.remove("x-one") == [b"z"]
    assert headers.remove("x-one") == []
    assert headers.get("x-one") is None


def test_headermap_copy_is_independent() -> None:
    headers = HeaderMap([("A", "1")])
    copied = headers.copy()
    copied.append("a", "2")
    assert headers.get_all("a") == [b"1"]
    assert copied.get_all("A") == [b"1", b"2"]
    assert copied != headers
    assert HeaderMap([("a", "1")]) == HeaderMap([("A", b"1")])


@pytest.mark.parametrize("name", ["", "bad name", "a:b", "caf\u00e9", "x\r\n"])
def test_headermap_rejects_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match="invalid header name"):
        HeaderMap().append(name, "v")


@pytest.mark.parametrize(
    ("value", "what"),
    [("a\rb", "CR"), ("a\nb", "LF"), (b"a\x00b", "NUL"), (b"\x01", "control byte 0x01")],
)
def test_headermap_rejects_bad_values(value: str | bytes, what: str) -> None:
    with pytest.raises(ValueError, match=f"header 'X-Test': contains {what}"):
        HeaderMap().set("X-Test", value)


def test_headermap_accepts_tab_and_non_ascii() -> None:
    headers = HeaderMap([("A", "x\ty"), ("B", "é"), ("C", b"\xff")])
    assert headers.get("b") == "é".encode()
    assert headers.get("c") == b"\xff"


# -- headers on messages ----------------------------------------------------------------------


def test_header_getters() -> None:
    req = Request.get("http://example.com/")
    req.append_header("X-Multi", "one")
    req.append_header("x-multi", b"tw\xffo")
    req.set_header("Content-Type", "text/plain")
    assert req.get_header("X-MULTI") == "one"
    assert req.get_header_str("x-multi") == "one"
    assert req.get_header_bytes("x-multi") == b"one"
    assert req.get_header_all("X-Multi") == ["one", "tw\ufffdo"]
    with pytest.raises(UnicodeDecodeError):
        req.get_header_all_str("x-multi")
    assert req.get_header_names() == ["x-multi", "content-type"]
    assert req.get_header_names_str() == ["x-multi", "content-type"]
    assert req.get_headers() == [
        ("x-multi", "one"),
        ("x-multi", "tw\ufffdo"),
        ("content-type", "text/plain"),
    ]
    assert req.contains_header("CONTENT-type")
    assert not req.contains_header("missing")
    assert req.get_header("missing") is None
    assert req.get_header_str("missing") is None
    assert req.get_header_bytes("missing") is None
    assert req.get_header_all("missing") == []
    assert req._headers.items()[0] == ("X-Multi", b"one")


def test_get_header_lossy_vs_strict() -> None:
    req = Request.get("http://example.com/").with_header("X", b"a\xffb")
    assert req.get_header("x") == "a\ufffdb"
    assert req.get_header_str_lossy("x") == "a\ufffdb"
    with pytest.raises(UnicodeDecodeError):
        req.get_header_str("x")


def test_set_append_remove_header() -> None:
    resp = Response()
    resp.append_header("Vary", "a")
    resp.append_header("vary", "b")
    resp.set_header("VARY", "c")
    assert resp.get_header_all("vary") == ["c"]
    resp.append_header("Vary", "d")
    assert resp.remove_header("vary") == "c"
    assert resp.remove_header("vary") is None
    resp.set_header("X", b"\xff")
    with pytest.raises(UnicodeDecodeError):
        resp.remove_header_str("x")
    assert not resp.contains_header("x")


def test_with_header_appends_with_set_header_replaces() -> None:
    req = Request.get("http://example.com/").with_header("A", "1").with_header("a", "2")
    assert req.get_header_all("a") == ["1", "2"]
    same = req.with_set_header("A", "3")
    assert same is req
    assert req.get_header_all("a") == ["3"]


def test_header_validation_on_messages() -> None:
    resp = Response()
    with pytest.raises(ValueError, match="invalid header name 'bad header'"):
        resp.set_header("bad header", "x")
    with pytest.raises(ValueError, match="header 'X-Evil': contains CR"):
        resp.with_header("X-Evil", "a\r\nSet-Cookie: x")
    with pytest.raises(TypeError):
        resp.set_header("X", 5)  # type: ignore[arg-type]


# -- method, URL, path, query, version --------------------------------------------------------


def test_constructors_and_method() -> None:
    for name in ("get", "head", "post", "put", "delete", "connect", "options", "trace", "patch"):
        req = getattr(Request, name)("http://example.com/")
        assert req.get_method() == name.upper()
        assert req.get_method_str() == name.upper()
    req = Request("purge", "https://example.com")
    assert req.get_method() == "purge"  # as in Rust's http: methods are case-sensitive
    assert req.get_url_str() == "https://example.com/"
    assert req.get_version() == "HTTP/1.1"
    assert not req.has_body()
    assert req.get_headers() == []
    assert req.with_method("DELETE").get_method() == "DELETE"
    assert req.with_method("delete").get_method() == "delete"
    with pytest.raises(ValueError, match="invalid HTTP method"):
        req.set_method("BAD METHOD")


@pytest.mark.parametrize(
    "url", ["/relative", "ftp://example.com/", "example.com", "http://", "http://a:99999/", ""]
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match="invalid URL"):
        Request.get(url)


def test_url_methods() -> None:
    req = Request.get("HTTP://example.com:8080/a%20b/c?x=1#frag")
    assert req.get_url_str() == "http://example.com:8080/a%20b/c?x=1#frag"
    url = req.get_url()
    assert (url.scheme, url.hostname, url.port) == ("http", "example.com", 8080)
    assert url.path == "/a%20b/c"
    assert req.get_path() == "/a%20b/c"
    req.set_url("https://other.example/new")
    assert req.get_url_str() == "https://other.example/new"
    assert req.with_url(url).get_url_str() == "http://example.com:8080/a%20b/c?x=1#frag"
    assert Request.get("http://ex.com/a b").get_path() == "/a%20b"


def test_path_methods() -> None:
    req = Request.get("http://example.com/old?keep=1")
    req.set_path("new/path")
    assert req.get_path() == "/new/path"
    assert req.get_url_str() == "http://example.com/new/path?keep=1"
    assert req.with_path("/sp ace/é?#").get_path() == "/sp%20ace/%C3%A9%3F%23"
    assert req.get_query_str() == "keep=1"


def test_query_methods() -> None:
    req = Request.get("http://example.com/p?a=1&b=x%20y&a=2&c=d+e&flag")
    assert req.get_query_str() == "a=1&b=x%20y&a=2&c=d+e&flag"
    assert req.get_query_parameter("a") == "1"
    assert req.get_query_parameter("b") == "x y"
    assert req.get_query_parameter("c") == "d e"
    assert req.get_query_parameter("flag") == ""
    assert req.get_query_parameter("missing") is None
    assert req.get_query() == {"a": "1", "b": "x y", "c": "d e", "flag": ""}
    req.set_query_str("q=hello world")
    assert req.get_query_str() == "q=hello%20world"
    assert req.get_query_parameter("q") == "hello world"
    req.remove_query()
    assert req.get_query_str() is None
    assert req.get_query() == {}
    assert req.get_url_str() == "http://example.com/p"
    req.set_query({"name": "a b&c", "n": 2})
    assert req.get_query_str() == "name=a+b%26c&n=2"
    assert req.get_query_parameter("name") == "a b&c"
    assert req.with_query([("x", "1"), ("x", "2")]).get_query_str() == "x=1&x=2"
    assert req.with_query_str("z=9").get_query() == {"z": "9"}
    assert Request.get("http://example.com/?").get_query_str() == ""  # Rust: Some("")


def test_version() -> None:
    req = Request.get("http://example.com/")
    req.set_version("1.0")
    assert req.get_version() == "HTTP/1.0"
    assert req.with_version("HTTP/2").get_version() == "HTTP/2.0"
    with pytest.raises(ValueError, match="unsupported HTTP version"):
        req.set_version("HTTP/4.2")


# -- body -------------------------------------------------------------------------------------


def test_body_set_take_into() -> None:
    req = Request.post("http://example.com/")
    assert not req.has_body()
    req.set_body("text")
    assert req.has_body()
    assert req.get_content_length() == 4
    assert req.take_body_str() == "text"
    assert not req.has_body()
    req.set_body(b"\xffraw")
    assert req.take_body_bytes() == b"\xffraw"
    req.set_body(b"\xff")
    with pytest.raises(UnicodeDecodeError):
        req.into_body_str()
    assert req.with_body(b"\xff").into_body_str_lossy() == "\ufffd"
    assert req.with_body(bytearray(b"ba")).into_body_bytes() == b"ba"
    body = Body(b"obj")
    assert req.with_body(body).into_body() is body
    assert req.take_body().into_bytes() == b""
    with pytest.raises(TypeError):
        req.set_body(42)  # type: ignore[arg-type]


def test_append_body() -> None:
    resp = Response.from_body("a")
    resp.append_body(b"b")
    resp.append_body("c")
    resp.append_body(Body(b"d"))
    resp.append_body(bytearray(b"e"))
    assert resp.into_body_str() == "abcde"


def test_read_body_chunks_and_lines() -> None:
    resp = Response.from_body("l1\nl2\n")
    assert list(resp.read_body_lines()) == ["l1\n", "l2\n"]
    assert list(Response.from_body("abcde").read_body_chunks(2)) == [b"ab", b"cd", b"e"]


def test_body_helpers_set_content_type() -> None:
    resp = Response().with_body_text_plain("hi")
    assert resp.get_content_type() == "text/plain; charset=utf-8"
    assert resp.take_body_str() == "hi"
    resp.set_body_text_html("<p>")
    assert resp.get_content_type() == "text/html; charset=utf-8"
    assert resp.with_body_text_html("<b>").take_body_str() == "<b>"
    resp.set_body_octet_stream(b"\x00\x01")
    assert resp.get_content_type() == "application/octet-stream"
    assert resp.with_body_octet_stream(b"\x02").take_body_bytes() == b"\x02"
    resp.set_content_type("image/png")
    assert resp.get_header_all("content-type") == ["image/png"]
    assert resp.with_content_type("a/b").get_content_type() == "a/b"


def test_json_body() -> None:
    req = Request.post("http://example.com/").with_body_json({"a": [1, 2], "é": None})
    assert req.get_content_type() == "application/json"
    assert req.get_header_bytes("content-type") == b"application/json"
    assert req.clone_with_body().take_body_str() == '{"a":[1,2],"é":null}'
    assert req.take_body_json() == {"a": [1, 2], "é": None}
    req.set_body_json([1])
    assert req.take_body_json() == [1]
    with pytest.raises(TypeError):
        req.set_body_json(object())
    with pytest.raises(json.JSONDecodeError):
        req.with_body("{nope").take_body_json()


# -- client request ---------------------------------------------------------------------------


def test_from_client_builds_request_and_body_is_lazy(host: FakeHost) -> None:
    req = Request.from_client()
    assert req.is_from_client()
    assert req.get_method() == "POST"
    assert req.get_url_str() == "http://127.0.0.1:7676/path/x?a=1&b=two&a=3"
    assert req.get_version() == "HTTP/1.1"
    assert req.get_header("host") == "127.0.0.1:7676"
    assert req.get_client_ip_addr() == ipaddress.IPv4Address("127.0.0.1")
    assert req.get_client_request_id() == "0" * 32
    assert req.get_query_parameter("a") == "1"
    assert host.parts is not None and isinstance(host.parts.body, ListStream)
    stream = host.parts.body
    assert req.has_body()
    assert req.get_content_length() is None  # streaming: unknown without reading
    assert stream.reads == 0
    req.set_header("X", "y")
    clone = req.clone_without_body()
    assert stream.reads == 0
    assert not clone.is_from_client()
    assert clone.get_client_ip_addr() is None
    assert req.take_body_str() == "hello world"
    assert stream.reads == 3


def test_from_client_without_body() -> None:
    fake = FakeHost(parts=client_parts(None, headers=[("A", b"1"), ("B", b"2"), ("a", b"3")]))
    with bind_host(fake):
        req = Request.from_client()
    assert not req.has_body()
    assert req.get_content_length() == 0
    assert req._headers.items() == [("A", b"1"), ("A", b"3"), ("B", b"2")]


def test_from_client_twice_raises(host: FakeHost) -> None:
    Request.from_client()
    with pytest.raises(RuntimeError, match="once"):
        Request.from_client()


def test_requests_the_app_makes_have_no_client_info() -> None:
    req = Request.get("http://example.com/")
    assert not req.is_from_client()
    assert req.get_client_ip_addr() is None
    assert req.get_client_request_id() is None


@pytest.mark.parametrize(
    ("call", "what"),
    [
        (lambda: Request.from_client(), "Request.from_client()"),
        (lambda: Request.get("http://e.com/").send("b"), "Request.send()"),
        (lambda: Request.get("http://e.com/").handoff_fanout("b"), "Request.handoff_fanout()"),
        (
            lambda: Request.get("http://e.com/").handoff_websocket("b"),
            "Request.handoff_websocket()",
        ),
        (lambda: Response().send_to_client(), "Response.send_to_client()"),
    ],
)
def test_calls_outside_a_request_name_the_call(call: Any, what: str) -> None:
    with pytest.raises(RuntimeError, match=r"needs a running request") as info:
        call()
    assert str(info.value).startswith(what)


def test_clone_with_body_both_keep_a_copy(host: FakeHost) -> None:
    req = Request.from_client().with_header("X", "1")
    req.set_ttl(60)
    clone = req.clone_with_body()
    clone.set_header("X", "2")
    clone.set_pass(True)
    assert req.get_header("x") == "1"
    assert req._cache_override == {"ttl": 60}
    assert clone._cache_override == {"ttl": 60, "pass": True}
    assert clone.get_method() == "POST" and clone.get_url_str() == req.get_url_str()
    assert req.get_content_length() == 11
    assert req.take_body_str() == "hello world"
    assert clone.take_body_str() == "hello world"


def test_cache_knobs_are_recorded() -> None:
    req = Request.get("http://example.com/")
    req.set_pass(True)
    req.set_ttl(10)
    req.set_stale_while_revalidate(5)
    req.set_pci(True)
    req.set_surrogate_key("k1 k2")
    req.set_auto_decompress_gzip(True)
    assert req._cache_override == {
        "pass": True,
        "ttl": 10,
        "stale_while_revalidate": 5,
        "pci": True,
        "surrogate_key": "k1 k2",
    }
    assert req._auto_decompress_gzip is True


# -- sending and handoffs ---------------------------------------------------------------------


def test_send_delegates_to_host(host: FakeHost) -> None:
    req = Request.get("http://example.com/").with_body("up").with_header("X-A", "1")
    req.set_ttl(60)
    resp = req.send("origin")
    [(call, sent, backend)] = host.calls
    assert (call, backend) == ("send", "origin")
    assert (sent.method, sent.url, sent.headers) == ("GET", "http://example.com/", (("X-A", b"1"),))
    assert sent.body.prefix == b"up" and sent.body.stream is None and not req.has_body()
    assert sent.cache.ttl == 60.0 and not sent.cache.pass_ and sent.cache.before_send is None
    assert resp.is_from_backend()
    assert resp.get_backend_name() == "origin"
    assert resp.get_backend_request() is req
    assert resp.take_backend_request() is req
    assert resp.get_backend_request() is None
    assert resp.get_header("x-b") == "1"
    assert resp.take_body_str() == "from origin"
    with pytest.raises(TypeError):
        req.send(123)  # type: ignore[arg-type]


def test_send_error_propagates(host: FakeHost) -> None:
    host.fail_with = SendError("origin", SendErrorCause.ConnectionRefused, "127.0.0.1:9")
    with pytest.raises(SendError) as info:
        Request.get("http://example.com/").send("origin")
    assert info.value.root_cause() is SendErrorCause.ConnectionRefused


def test_handoffs_delegate_to_host(host: FakeHost) -> None:
    req = Request.from_client()
    req.handoff_fanout("grip")
    req.handoff_websocket("ws")
    with pytest.warns(DeprecationWarning, match="handoff_websocket"):
        req.upgrade_websocket("old")
    assert [(c[0], *c[2:]) for c in host.calls] == [
        ("handoff", "grip", "fanout"),
        ("handoff", "ws", "websocket"),
        ("handoff", "old", "websocket"),
    ]
    for _, sent, *_ in host.calls:
        assert (sent.method, sent.url) == ("POST", req.get_url_str())
        assert sent.body.prefix == b"" and sent.body.stream is None
    assert req.has_body()  # a handoff sends the client's own body: the request keeps its


def test_send_to_client_delegates_and_second_raises(host: FakeHost) -> None:
    resp = Response.from_body("ok").with_header("X", "1")
    resp.send_to_client()
    [(call, sent)] = host.calls
    assert call == "send_to_client" and (sent.status, sent.headers) == (200, (("X", b"1"),))
    assert sent.body.prefix == b"ok" and sent.keepalive and not sent.framing_from_headers
    with pytest.raises(RuntimeError, match="already sent"):
        Response().send_to_client()


# -- errors -----------------------------------------------------------------------------------


def test_send_error_text_and_methods() -> None:
    req = Request.get("http://example.com/")
    err = SendError("origin", SendErrorCause.ConnectionRefused, "127.0.0.1:9", sent_req=req)
    assert str(err) == ("error sending request: connection refused: 127.0.0.1:9 to backend origin")
    assert err.backend_name() == "origin"
    assert err.root_cause() is SendErrorCause.ConnectionRefused
    assert err.detail == "127.0.0.1:9"
    assert err.into_sent_req() is req
    plain = SendError("nope", SendErrorCause.UnknownBackend)
    assert str(plain) == "error sending request: unknown backend to backend nope"
    assert plain.into_sent_req() is None
    assert "UnknownBackend" in repr(plain)
    assert isinstance(plain, Exception)


def test_send_error_cause_members() -> None:
    names = [
        "DnsTimeout", "DnsError", "DestinationNotFound", "DestinationUnavailable",
        "DestinationIpUnroutable", "ConnectionRefused", "ConnectionTerminated",
        "ConnectionTimeout", "ConnectionLimitReached", "TlsProtocolError", "TlsCertificateError",
        "TlsAlertReceived", "TlsConfigurationError", "HttpIncompleteResponse",
        "HttpResponseHeaderSectionTooLarge", "HttpResponseBodyTooLarge", "HttpResponseTimeout",
        "HttpResponseStatusInvalid", "HttpUpgradeFailed", "HttpProtocolError",
        "HttpRequestCacheKeyInvalid", "HttpRequestUriInvalid", "InternalError", "UnknownBackend",
    ]  # fmt: skip
    assert [member.name for member in SendErrorCause] == names
    timeouts = {c.name for c in SendErrorCause if c.is_timeout}
    assert timeouts == {"DnsTimeout", "ConnectionTimeout", "HttpResponseTimeout"}
    assert SendErrorCause.ConnectionRefused.description == "connection refused"
    assert str(SendErrorCause.HttpResponseTimeout) == "HTTP response timeout"
    assert all(cause.description for cause in SendErrorCause)


# -- Response ---------------------------------------------------------------------------------


def test_response_constructors() -> None:
    resp = Response()
    assert (resp.get_status(), resp.get_version(), resp.has_body()) == (200, "HTTP/1.1", False)
    assert Response.new().get_status() == 200
    assert Response.from_status(404).get_status() == 404
    assert Response.from_body(b"x").take_body_bytes() == b"x"
    assert not resp.is_from_backend()
    assert resp.get_backend_name() is None
    assert resp.get_backend_request() is None
    assert resp.take_backend_request() is None
    resp.set_version("1.0")
    assert resp.get_version() == "HTTP/1.0"


@pytest.mark.parametrize(
    ("factory", "status"),
    [(Response.see_other, 303), (Response.redirect, 308), (Response.temporary_redirect, 307)],
)
def test_redirects(factory: Any, status: int) -> None:
    resp = factory("https://example.com/next")
    assert resp.get_status() == status
    assert resp.get_header("location") == "https://example.com/next"
    assert not resp.has_body()


@pytest.mark.parametrize("status", [99, 1000, 0, -1, True, 200.0, "200"])
def test_status_validation(status: Any) -> None:
    with pytest.raises(ValueError, match="invalid HTTP status"):
        Response.from_status(status)
    with pytest.raises(ValueError, match="invalid HTTP status"):
        Response().set_status(status)


def test_status_setters() -> None:
    resp = Response()
    resp.set_status(100)
    assert resp.get_status() == 100
    assert resp.with_status(999).get_status() == 999


def test_response_from_backend_keeps_stream_lazy() -> None:
    stream = ListStream([b"x", b"y"])
    resp = Response._from_backend(
        502, [("Server", b"s"), ("set-cookie", b"a"), ("Set-Cookie", b"b")],
        Body.from_stream(stream), "api", None,
    )  # fmt: skip
    assert resp.get_status() == 502
    assert resp.get_backend_name() == "api"
    assert resp.get_header_all("set-cookie") == ["a", "b"]
    assert resp.has_body() and stream.reads == 0
    assert resp.into_body_str() == "xy"


# -- the cache hooks as values ----------------------------------------------------------------


class HookingHost(FakeHost):
    """Runs the request's before-send hook on what it was sent, then on a GET it derives."""

    def send(self, request: OutgoingRequest, backend: str) -> BackendResponse:
        hook = request.cache.before_send
        assert hook is not None
        self.calls.append(("hooked", hook(request)))
        derived = dataclasses.replace(request, method="GET", body=BodyParts())
        self.calls.append(("derived", hook(derived)))
        return super().send(request, backend)


def test_the_before_send_hook_changes_the_request_the_app_sent() -> None:
    fake = HookingHost()
    seen: list[Request] = []

    def before(req: Request) -> None:
        seen.append(req)
        req.set_header("x-hook", str(len(seen)))
        req.set_body(req.take_body_str() + "!")

    req = Request.head("http://example.com/a").with_body("up").with_before_send(before)
    with bind_host(fake):
        resp = req.send("origin")
    (_, hooked), (_, derived), _ = fake.calls
    assert seen[0] is req and seen[1] is not req  # a derived request gets a copy
    assert (hooked.method, hooked.body.prefix) == ("HEAD", b"up!")
    assert dict(hooked.headers)["x-hook"] == b"1"
    assert (derived.method, derived.body.prefix, dict(derived.headers)["x-hook"]) == (
        "GET",
        b"!",
        b"2",
    )
    assert req.get_header("x-hook") == "1" and resp.get_backend_request() is req
    assert not req.has_body()  # sent


def test_the_after_send_hook_takes_and_gives_a_candidate_value() -> None:
    def after(candidate: sdk.CandidateResponse) -> None:
        candidate.set_ttl(5)
        candidate.set_header("x-after", "1")
        candidate.set_vary(["Accept", "origin"])
        candidate.set_uncacheable()

    value = Request.get("http://e.com/").with_after_send(after)._outgoing()
    hook = value.cache.after_send
    assert hook is not None
    given = Candidate(200, (("a", b"1"),), True, 60.0, 3.0, 0.0, ("k",), (), False)
    got = hook(given)
    assert (got.status, got.ttl, got.age, got.cacheable) == (200, 5.0, 3.0, False)
    assert got.headers == (("a", b"1"), ("x-after", b"1")) and got.vary == ("accept", "origin")
    assert got.surrogate_keys == ("k",)
