"""compute-emu's publish port in-process: how it forwards admitted requests to Pushpin's
private publish API, and refuses the others (real sockets, a scripted API)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.abc
import h11
import pytest

from compute_emu.aio.listener import Listener
from compute_emu.log import RequestLog
from compute_emu.server.admission import HostPolicy
from compute_emu.server.connection import Limits
from compute_emu.server.framing import HttpDate
from compute_emu.server.publish_admission import (
    AppOrigins,
)
from compute_emu.server.publish_port import PublishForwarder, serve_publish_port
from compute_emu.upstream.client import UpstreamClient

APP = AppOrigins.build(7676, ["127.0.0.1"])


# -- forwarding, in-process ------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    target: str
    headers: list[tuple[bytes, bytes]]
    body: bytearray = field(default_factory=bytearray)


class ScriptedApi:
    """A stand-in for Pushpin's publish API: keep-alive HTTP/1.1 that records what it gets.

    ``/held`` answers a first chunk, then the rest once ``release`` is set.
    """

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[Seen] = []
        self.release = anyio.Event()

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        self.connections += 1
        conn = h11.Connection(h11.SERVER)
        async with stream:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    try:
                        conn.receive_data(await stream.receive())
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                    continue
                if isinstance(event, h11.ConnectionClosed):
                    return
                if isinstance(event, h11.Request):
                    seen = Seen(event.method.decode(), event.target.decode(), list(event.headers))
                    self.requests.append(seen)
                elif isinstance(event, h11.Data):
                    self.requests[-1].body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    await self._answer(stream, conn, self.requests[-1])
                    if conn.our_state is h11.MUST_CLOSE:
                        return
                    conn.start_next_cycle()

    async def _answer(
        self, stream: anyio.abc.SocketStream, conn: h11.Connection, seen: Seen
    ) -> None:
        if seen.target == "/held":
            await stream.send(conn.send(h11.Response(status_code=200, headers=[])))
            await stream.send(conn.send(h11.Data(data=b"first\n")))
            await self.release.wait()
            await stream.send(conn.send(h11.Data(data=b"second\n")))
            await stream.send(conn.send(h11.EndOfMessage()))
            return
        body = b"Published\n"
        head = h11.Response(
            status_code=200,
            headers=[("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
        )
        await stream.send(conn.send(head) + conn.send(h11.Data(data=body)))
        await stream.send(conn.send(h11.EndOfMessage()))


@dataclass
class Guard:
    port: int
    api: ScriptedApi
    log: io.StringIO


@asynccontextmanager
async def guard(api_up: bool = True) -> AsyncIterator[Guard]:
    api = ScriptedApi()
    out = io.StringIO()
    client = UpstreamClient()
    async with anyio.create_task_group() as tg:
        api_listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        api_port = api_listener.extra(anyio.abc.SocketAttribute.local_port)
        if api_up:

            async def run_api() -> None:
                async with api_listener:
                    await api_listener.serve(api.handle)

            tg.start_soon(run_api)
        else:
            await api_listener.aclose()  # nothing listens there any more
        listener = await Listener.open("127.0.0.1", 0)
        forwarder = PublishForwarder(
            client, lambda: api_port, HttpDate(), RequestLog(out=out, err=out), APP
        )
        hosts = HostPolicy.build(["127.0.0.1"])
        tg.start_soon(serve_publish_port, listener, forwarder, lambda: hosts, Limits())
        try:
            yield Guard(listener.address[1], api, out)
        finally:
            tg.cancel_scope.cancel()
            await client.aclose()


class RawClient:
    """An HTTP/1.1 client on one connection (h11), to see exactly what comes back."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def request(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b""
    ) -> None:
        if body:
            headers = [*headers, ("Content-Length", str(len(body)))]
        data = self.conn.send(h11.Request(method=method, target=target, headers=headers))
        if body:
            data += self.conn.send(h11.Data(data=body))
        data += self.conn.send(h11.EndOfMessage())
        await self.stream.send(data)

    async def next_event(self) -> h11.Event:
        while (event := self.conn.next_event()) is h11.NEED_DATA:
            try:
                self.conn.receive_data(await self.stream.receive())
            except anyio.EndOfStream:
                self.conn.receive_data(b"")
        return event  # type: ignore[return-value]

    async def response(self) -> tuple[h11.Response, bytes]:
        head = await self.next_event()
        while isinstance(head, h11.InformationalResponse):
            head = await self.next_event()
        assert isinstance(head, h11.Response), head
        body = b""
        while isinstance(event := await self.next_event(), h11.Data):
            body += event.data
        assert isinstance(event, h11.EndOfMessage), event
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        return head, body


@asynccontextmanager
async def connect(port: int) -> AsyncIterator[RawClient]:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        yield RawClient(stream)


HOST = [("Host", "127.0.0.1:5561")]


@pytest.mark.anyio
async def test_requests_go_on_unchanged_and_both_sides_keep_alive():
    async with guard() as g, connect(g.port) as client:
        for n in range(3):
            body = b'{"items": [%d]}' % n
            headers = [*HOST, ("Content-Type", "application/json"), ("X-Trace", f"t{n}")]
            await client.request("POST", f"/publish/?n={n}", headers, body)
            head, answer = await client.response()
            assert (head.status_code, answer) == (200, b"Published\n")
            assert dict(head.headers)[b"content-type"] == b"text/plain"
        assert g.api.connections == 1  # one pooled connection to the API
        assert [r.target for r in g.api.requests] == [
            "/publish/?n=0",
            "/publish/?n=1",
            "/publish/?n=2",
        ]
        seen = g.api.requests[2]
        assert seen.method == "POST" and bytes(seen.body) == b'{"items": [2]}'
        assert (b"x-trace", b"t2") in seen.headers and (b"host", b"127.0.0.1:5561") in seen.headers
        assert (b"content-type", b"application/json") in seen.headers


@pytest.mark.anyio
async def test_an_upload_is_streamed_as_it_arrives():
    size = 60_000
    async with guard() as g, connect(g.port) as client:
        await client.send(b"POST /publish/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        await client.send(b"Content-Length: %d\r\n\r\n" % size + b"a" * (size // 2))
        with anyio.fail_after(5):  # it did not hang: the first half is there already
            while not (g.api.requests and len(g.api.requests[0].body) >= size // 2):
                await anyio.sleep(0.01)
        await client.send(b"b" * (size // 2))
        head, _ = await client.response()
        assert head.status_code == 200 and len(g.api.requests[0].body) == size
        assert (b"content-length", b"%d" % size) in g.api.requests[0].headers


@pytest.mark.anyio
async def test_a_chunked_upload_goes_on_with_its_length():
    # Pushpin's publish API answers a chunked request with 411 Length Required
    async with guard() as g, connect(g.port) as client:
        await client.send(
            b"POST /publish/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"6\r\nfirst \r\n"
        )
        await anyio.sleep(0.05)
        await client.send(b"4\r\nrest\r\n0\r\n\r\n")
        head, _ = await client.response()
        seen = g.api.requests[0]
        assert (head.status_code, bytes(seen.body)) == (200, b"first rest")
        assert (b"content-length", b"10") in seen.headers
        assert not any(name == b"transfer-encoding" for name, _ in seen.headers)


@pytest.mark.anyio
@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_over_pushpins_limit_gets_pushpins_answer_from_here(chunked):
    size = 70_000
    if chunked:
        upload = b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % size + b"x" * size + b"\r\n0\r\n\r\n"
    else:
        upload = b"Content-Length: %d\r\n\r\n" % size + b"x" * size
    async with guard() as g, connect(g.port) as client:
        await client.send(b"POST /publish/ HTTP/1.1\r\nHost: 127.0.0.1\r\n" + upload)
        head, answer = await client.response()
        assert (head.status_code, answer) == (400, b"Request body too large.\n")
        assert g.api.requests == []


@pytest.mark.anyio
async def test_the_answer_is_streamed_back_as_it_comes():
    async with guard() as g, connect(g.port) as client:
        await client.request("GET", "/held", HOST)
        head = await client.next_event()
        assert isinstance(head, h11.Response) and head.status_code == 200
        with anyio.fail_after(5):
            first = await client.next_event()
        assert isinstance(first, h11.Data) and first.data == b"first\n"
        g.api.release.set()
        second = await client.next_event()
        assert isinstance(second, h11.Data) and second.data == b"second\n"


@pytest.mark.anyio
async def test_expect_100_continue_is_answered_here_and_not_passed_on():
    async with guard() as g, connect(g.port) as client:
        headers = [*HOST, ("Content-Length", "2"), ("Expect", "100-continue")]
        await client.send(client.conn.send(h11.Request(method="POST", target="/", headers=headers)))
        event = await client.next_event()
        assert isinstance(event, h11.InformationalResponse) and event.status_code == 100
        await client.send(
            client.conn.send(h11.Data(data=b"{}")) + client.conn.send(h11.EndOfMessage())
        )
        head, _ = await client.response()
        assert head.status_code == 200 and bytes(g.api.requests[0].body) == b"{}"
        assert not any(name == b"expect" for name, _ in g.api.requests[0].headers)


@pytest.mark.anyio
async def test_http_1_0_without_host_gets_a_host_added():
    async with guard() as g, connect(g.port) as client:
        await client.send(b"POST /publish/ HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}")
        data = b""
        with anyio.fail_after(5):
            while True:
                try:
                    data += await client.stream.receive()
                except anyio.EndOfStream:
                    break
        assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"Published\n")
        assert (b"host", f"127.0.0.1:{g.port}".encode()) not in g.api.requests[0].headers
        assert any(name == b"host" for name, _ in g.api.requests[0].headers)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ([("Origin", "http://evil.example"), ("Content-Type", "text/plain")], b"may not publish"),
        ([("Origin", "null")], b"may not publish"),
        ([("Sec-Fetch-Site", "cross-site")], b"Sec-Fetch-Site"),
    ],
)
async def test_browser_requests_of_other_origins_are_refused_and_not_passed_on(headers, fragment):
    async with guard() as g, connect(g.port) as client:
        await client.request("POST", "/publish/", [*HOST, *headers], b'{"items": []}')
        head, answer = await client.response()
        assert head.status_code == 403 and fragment in answer
        assert g.api.requests == []
    assert "warning: publish port: refused POST /publish/" in g.log.getvalue()


@pytest.mark.anyio
async def test_a_host_that_is_not_served_is_refused_dns_rebinding():
    async with guard() as g, connect(g.port) as client:
        await client.request("POST", "/publish/", [("Host", "evil.example")], b"{}")
        head, answer = await client.response()
        assert head.status_code == 403 and b"--allow-host evil.example" in answer
        assert g.api.requests == []


@pytest.mark.anyio
async def test_a_page_of_the_apps_own_origin_publishes_with_cors():
    origin = "http://localhost:7676"
    async with guard() as g, connect(g.port) as client:
        preflight = [
            *HOST,
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ]
        await client.request("OPTIONS", "/publish/", preflight)
        head, _ = await client.response()
        headers = dict(head.headers)
        assert (
            head.status_code == 204
            and headers[b"access-control-allow-origin"] == b"http://localhost:7676"
        )
        assert g.api.requests == []  # answered here
        await client.request("POST", "/publish/", [*HOST, ("Origin", origin)], b"{}")
        head, answer = await client.response()
        assert (head.status_code, answer) == (200, b"Published\n")
        assert dict(head.headers)[b"access-control-allow-origin"] == origin.encode()
        assert (b"origin", origin.encode()) in g.api.requests[0].headers  # passed on as it came


@pytest.mark.anyio
async def test_pushpin_not_answering_is_a_503_that_says_so():
    async with guard(api_up=False) as g, connect(g.port) as client:
        await client.request("POST", "/publish/", HOST, b"{}")
        head, answer = await client.response()
        assert head.status_code == 503 and b"Pushpin may be restarting" in answer
