"""The rest of the crate (issue #9, part 3), each item called from an app under `compute-emu
serve`: one server, one origin (in this process), one request per group of items."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.support.sdk_hosts import BOTH
from tests.support.threaded_server import serve_in_thread

SDK_HOSTS = BOTH  # each test also runs on the SDK's Wasm host (tests/support/sdk_hosts.py)

PAYLOAD = b"hello, world!\n" * 50


class Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return data
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        body = self._body()
        if self.path.startswith("/gz"):
            out, extra = gzip.compress(PAYLOAD), [("Content-Encoding", "gzip")]
        else:
            echo = {"body": body.decode(), "te": self.headers.get("Transfer-Encoding")}
            out, extra = json.dumps(echo).encode(), [("Content-Type", "application/json")]
        self.send_response(200)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture
def origin_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    thread = serve_in_thread(server)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


APP = """
from datetime import timedelta
from compute_emu.sdk import (Backend, BackendCreationError, Body, BackendError, FramingHeadersMode,
                             HttpKeepaliveMode, KVStore, Request, Response, SslVersion,
                             BotCategory, log)

def main():
    req = Request.from_client()
    path = req.get_path()
    if path == "/client":
        out = [str(req.get_server_ip_addr()), req.get_original_header_names()[:2],
               req.get_original_header_count() >= 2, req.get_client_ddos_detected(),
               req.get_client_h2_fingerprint(), req.get_client_oh_fingerprint(),
               req.get_tls_cipher_openssl_name(), req.get_tls_cipher_openssl_name_bytes(),
               req.get_tls_protocol(), req.get_tls_protocol_bytes(), req.get_tls_client_hello(),
               req.get_tls_ja3_md5(), req.get_tls_ja4(), req.get_tls_raw_client_certificate(),
               req.get_tls_raw_client_certificate_bytes(),
               req.get_tls_client_cert_verify_result(), req.get_tls_client_servername(),
               req.get_bot_analyzed(), req.get_bot_detected(), req.get_bot_name(),
               req.get_bot_category(), str(req.get_bot_category_kind()),
               req.get_bot_verified(), req.fastly_key_is_valid(),
               Request.get("http://x/").get_original_header_names()]
        Response.new().with_body_json(out).send_to_client()
    elif path == "/gzip":
        plain = Request.get("http://x/gz?a").with_auto_decompress_gzip(True).send("origin")
        raw = Request.get("http://x/gz?b").send("origin")
        pending = Request.get("http://x/gz?c").with_auto_decompress_gzip(True).send_async("origin")
        waited = pending.wait()
        out = [plain.get_header("content-encoding"), len(plain.take_body_bytes()),
               raw.get_header("content-encoding"), len(waited.take_body_bytes())]
        Response.new().with_body_json(out).send_to_client()
    elif path == "/streaming":
        body, pending = Request.post("http://x/echo").with_body("one,").send_async_streaming(
            "origin")
        body.write("two,")
        body.write_bytes(b"three")
        body.finish()
        resp = pending.wait()
        copy = resp.clone_with_body()
        bare = resp.clone_without_body()
        backend = resp.get_backend()
        out = [resp.take_body_json(), copy.take_body_json()["body"], bare.has_body(),
               backend.name(), Response.new().get_backend()]
        Response.new().with_body_json(out).send_to_client()
    elif path == "/forms":
        sent = Request.post("http://x/echo").with_body_form({"a": "1", "b": "x y"})
        ctype = sent.get_content_type()
        echoed = sent.send("origin").take_body_json()["body"]
        parsed = Response.from_body(echoed).take_body_form()
        empty = Response.new()
        out = [ctype, echoed, parsed, empty.try_take_body(),
               Response.from_body("x").try_take_body().into_string(),
               Response.from_body("y").try_into_body().into_string(),
               Request.get("http://x/").try_take_body(),
               Request.new("GET", "http://x/").get_method(),
               Response.from_body("z").get_body_mut().into_string(),
               len(Body.new())]
        Response.new().with_body_json(out).send_to_client()
    elif path == "/manual":
        body = (Response.new().with_header("Content-Length", "5")
                .with_framing_headers_mode(FramingHeadersMode.ManuallyFromHeaders)
                .with_http_keepalive_mode(HttpKeepaliveMode.NoKeepalive)
                .stream_to_client())
        body.write("12345")
        body.finish()
    elif path == "/manual-request":
        req = (Request.post("http://x/echo").with_header("Content-Length", "5")
               .with_framing_headers_mode(FramingHeadersMode.ManuallyFromHeaders))
        body, pending = req.send_async_streaming("origin")
        body.write("12345")
        body.finish()
        Response.from_body(pending.wait().take_body()).send_to_client()
    elif path == "/manual-bad":  # a wrong length: framed automatically, as Viceroy falls back
        (Response.from_body("abc").with_header("Content-Length", "9")
         .with_framing_headers_mode(FramingHeadersMode.ManuallyFromHeaders).send_to_client())
    elif path == "/builder":
        b = (Backend.builder("dyn", "127.0.0.1:9").set_min_tls_version(SslVersion.TLS1_2)
             .set_max_tls_version(SslVersion.TLS1_3).tls_ciphers("DEFAULT")
             .http_keepalive_time(timedelta(seconds=30)).tcp_keepalive_enable(True)
             .tcp_keepalive_interval_secs(5).tcp_keepalive_probes(3).tcp_keepalive_time_secs(60)
             .max_connections(10).max_use(100).max_lifetime(60).prefer_ipv6(False)
             .enable_grpc(False).enable_pooling(True)
             .provide_client_certificate("PEM", "key").finish())
        errors = []
        try:
            Backend.builder("dyn", "127.0.0.1:9").finish()
        except BackendCreationError.NameInUse as exc:
            errors.append(type(exc).__qualname__)
        try:
            Backend.from_name("nope")
        except BackendError.DoesNotExist as exc:
            errors.append(type(exc).__qualname__)
        out = [b.get_ssl_min_version().name, b.get_ssl_max_version().name,
               b.get_http_keepalive_time().total_seconds(), b.get_tcp_keepalive_enable(),
               b.get_tcp_keepalive_interval().total_seconds(), b.get_tcp_keepalive_probes(),
               b.get_tcp_keepalive_time().total_seconds(), errors,
               hasattr(BackendCreationError, "Disallowed")]
        Response.new().with_body_json(out).send_to_client()
    elif path == "/kv":
        store = KVStore.open("kv")
        store.build_insert().execute_async("k", "v").wait()
        store.pending_insert_wait(store.build_insert().execute_async("k2", b"w"))
        found = store.pending_lookup_wait(store.build_lookup().execute_async("k"))
        keys = store.pending_list_wait(store.build_list().execute_async()).keys()
        store.pending_delete_wait(store.build_delete().execute_async("k"))
        store.build_delete().execute("k2")
        out = [found.take_body().into_string(), keys, store.list().keys()]
        Response.new().with_body_json(out).send_to_client()
    elif path == "/panic":
        log.set_panic_endpoint("panics")
        raise RuntimeError("boom")
"""

TOML = """
[local_server]
fake_valid_fastly_keys = ["good-key"]
kv_stores.kv = []
"""


def test_the_rest_of_the_crate_from_an_app(make_project, serve, origin_url) -> None:
    served = serve(make_project(APP, backends={"origin": origin_url}, extra=TOML))
    url = served.url

    bot = {
        "X-Fastly-Bot-Analyzed": "true",
        "X-Fastly-Bot-Detected": "true",
        "X-Fastly-Bot-Name": "BadBot",
        "X-Fastly-Bot-Category": "ai-crawler",
        "X-Fastly-Bot-Verified": "true",
        "Fastly-Key": "good-key",
    }
    client = httpx.get(f"{url}/client", headers=bot).json()
    assert client[0] == "127.0.0.1" and client[1] == ["host", "accept"] and client[2]
    assert client[3] is False and client[4:17] == [None] * 13
    assert client[17:] == [
        True, True, "BadBot", "ai-crawler", "BotCategory.AiCrawler", True, True, None
    ]  # fmt: skip
    plain = httpx.get(f"{url}/client", headers={"Fastly-Key": "wrong"}).json()
    assert plain[17:24] == [False, False, None, None, "None", None, False]

    assert httpx.get(f"{url}/gzip").json() == [None, len(PAYLOAD), "gzip", len(PAYLOAD)]

    streamed = httpx.get(f"{url}/streaming").json()
    assert streamed[0] == {"body": "one,two,three", "te": "chunked"}
    assert streamed[1:] == ["one,two,three", False, "origin", None]

    forms = httpx.get(f"{url}/forms").json()
    assert forms == [
        "application/x-www-form-urlencoded", "a=1&b=x+y", {"a": "1", "b": "x y"},
        None, "x", "y", None, "GET", "z", 0,
    ]  # fmt: skip

    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as sock:
        sock.sendall(b"GET /manual HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):  # the server closes: NoKeepalive
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-length: 5" in head.lower() and b"connection: close" in head.lower()
    assert b"transfer-encoding" not in head.lower() and body == b"12345"
    assert httpx.get(f"{url}/manual-request").json() == {"body": "12345", "te": None}
    bad = httpx.get(f"{url}/manual-bad")
    assert (bad.headers["content-length"], bad.text) == ("3", "abc")

    assert httpx.get(f"{url}/builder").json() == [
        "TLS1_2", "TLS1_3", 30.0, True, 5.0, 3, 60.0,
        ["BackendCreationError.NameInUse", "BackendError.DoesNotExist"], True,
    ]  # fmt: skip
    assert httpx.get(f"{url}/kv").json() == ["v", ["k", "k2"], []]

    assert httpx.get(f"{url}/panic").status_code == 500
    served.child.wait_for(r"panics :: RuntimeError: boom")
