"""The upstream client over a scripted network (no sockets): pool, retry, framing, timeouts."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from compute_emu.upstream.client import (
    FailureKind,
    Origin,
    UpstreamClient,
    UpstreamError,
    UpstreamRequest,
)
from compute_emu.upstream.network import NetworkStream

ORIGIN = Origin("127.0.0.1", 8080)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
WAIT = object()  # in a script: block until the stream is closed (or cancelled)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class ScriptedStream(NetworkStream):
    """Answers ``receive`` from a script of byte strings, exceptions and WAIT; EOF after it."""

    def __init__(self, *script: Any, fail_send_after: int | None = None) -> None:
        self.script = list(script)
        self.sent = bytearray()
        self.writes = 0
        self.closed = False
        self.readable = False  # what is_readable() says (a stale idle connection: True)
        self.fail_send_after = fail_send_after

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if self.closed:
            raise anyio.ClosedResourceError
        await anyio.lowlevel.checkpoint()
        if not self.script:
            raise anyio.EndOfStream
        item = self.script.pop(0)
        if item is WAIT:
            await anyio.sleep_forever()
        if isinstance(item, BaseException):
            raise item
        if len(item) > max_bytes:
            self.script.insert(0, item[max_bytes:])
        return item[:max_bytes]

    async def send(self, item: bytes) -> None:
        if self.fail_send_after is not None and self.writes >= self.fail_send_after:
            raise anyio.BrokenResourceError
        self.writes += 1
        self.sent += item

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        self.closed = True

    def is_readable(self) -> bool:
        return self.readable


class ScriptedNetwork:
    """Hands out the given streams (or raises the given exceptions) in order."""

    def __init__(self, *streams: ScriptedStream | BaseException) -> None:
        self.streams = list(streams)
        self.origins: list[Origin] = []

    async def connect(self, origin: Origin) -> NetworkStream:
        self.origins.append(origin)
        item = self.streams.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item


def get(target: str = "/", **kwargs: Any) -> UpstreamRequest:
    return UpstreamRequest("GET", target, [("Host", b"example.test")], **kwargs)


async def read_all(client: UpstreamClient, request: UpstreamRequest) -> tuple[int, bytes]:
    response = await client.request(ORIGIN, request)
    body = b""
    while chunk := await response.receive():
        body += chunk
    return response.status, body


# -- framing of what comes back: whole, byte by byte, with trailing data ---------------------
@pytest.mark.anyio
@pytest.mark.parametrize(
    "split",
    [lambda data: [data], lambda data: [data[i : i + 1] for i in range(len(data))]],
    ids=["whole", "byte-by-byte"],
)
async def test_a_response_whole_or_byte_by_byte(split):
    response = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    stream = ScriptedStream(*split(response))
    client = UpstreamClient(ScriptedNetwork(stream))
    result = await client.request(ORIGIN, get())
    assert result.status == 200 and ("X-A", b"1") in result.headers
    body = b""
    while chunk := await result.receive():
        body += chunk
    assert body == b"abc"
    assert client.pool.idle_count(ORIGIN) == 1 and not stream.closed
    assert bytes(stream.sent) == b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n"


@pytest.mark.anyio
async def test_a_small_in_memory_request_is_one_write():
    stream = ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(stream))
    request = UpstreamRequest(
        "POST", "/p", [("Host", b"h"), ("Content-Length", b"5")], body=b"hello"
    )
    assert await read_all(client, request) == (200, b"ok")
    assert stream.writes == 1
    assert stream.sent.endswith(b"\r\n\r\nhello")


@pytest.mark.anyio
async def test_a_streamed_body_is_sent_chunked():
    async def chunks() -> AsyncIterator[bytes]:
        yield b"ab"
        yield b""
        yield b"cd"

    stream = ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(stream))
    request = UpstreamRequest(
        "PUT", "/", [("Host", b"h"), ("Transfer-Encoding", b"chunked")], body=chunks()
    )
    assert await read_all(client, request) == (200, b"ok")
    assert stream.sent.endswith(b"\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n")


@pytest.mark.anyio
@pytest.mark.parametrize("split", [False, True])
async def test_bytes_after_a_complete_response_are_never_pooled(split):
    injected = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected"
    first = ScriptedStream(OK, injected) if split else ScriptedStream(OK + injected)
    second = ScriptedStream(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
    client = UpstreamClient(ScriptedNetwork(first, second))
    response = await client.request(ORIGIN, get())
    assert await response.receive() == b"ok"
    if split:
        first.readable = True  # the rest is waiting in the socket
    assert await response.receive() == b""
    assert first.closed and client.pool.idle_count() == 0
    assert await read_all(client, get()) == (200, b"fresh")


@pytest.mark.anyio
async def test_informational_responses_are_skipped():
    stream = ScriptedStream(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK
    )
    client = UpstreamClient(ScriptedNetwork(stream))
    assert await read_all(client, get()) == (200, b"ok")


@pytest.mark.anyio
async def test_a_101_hands_over_the_stream_and_the_bytes_past_the_head():
    stream = ScriptedStream(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        b"\x81\x02hi"
    )
    client = UpstreamClient(ScriptedNetwork(stream))
    request = UpstreamRequest(
        "GET", "/ws", [("Host", b"h"), ("Upgrade", b"websocket"), ("Connection", b"Upgrade")]
    )
    response = await client.request(ORIGIN, request)
    assert response.status == 101
    raw, pending = response.upgrade()
    assert raw is stream and pending == b"\x81\x02hi"
    await response.aclose()
    assert not stream.closed  # the caller owns it now
    with pytest.raises(RuntimeError):
        response.upgrade()
    assert client.pool.idle_count() == 0


@pytest.mark.anyio
async def test_a_101_nobody_asked_for_is_a_protocol_error():
    stream = ScriptedStream(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n")
    client = UpstreamClient(ScriptedNetwork(stream))
    with pytest.raises(UpstreamError) as failed:
        await client.request(ORIGIN, get())
    assert failed.value.kind is FailureKind.PROTOCOL and stream.closed


@pytest.mark.anyio
@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: 5\r\nTransfer-Encoding: chunked",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5",
        b"Content-Length: 2\r\nContent-Length: 3",
        b"Content-Length: 2, 3",
        b"Content-Length: +2",
        b"Transfer-Encoding: gzip",
    ],
)
async def test_unsafe_response_framing_is_a_protocol_error(head):
    stream = ScriptedStream(b"HTTP/1.1 200 OK\r\n" + head + b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    client = UpstreamClient(ScriptedNetwork(stream))
    with pytest.raises(UpstreamError) as failed:
        await client.request(ORIGIN, get())
    assert failed.value.kind is FailureKind.PROTOCOL
    assert stream.closed and client.pool.idle_count() == 0


@pytest.mark.anyio
async def test_a_huge_head_is_too_large():
    stream = ScriptedStream(b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 200_000)
    client = UpstreamClient(ScriptedNetwork(stream))
    with pytest.raises(UpstreamError) as failed:
        await client.request(ORIGIN, get())
    assert failed.value.kind is FailureKind.HEAD_TOO_LARGE and stream.closed


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("script", "kind"),
    [
        ((), FailureKind.INCOMPLETE),
        ((b"HTTP/1.1 200 OK\r\nContent-Le",), FailureKind.INCOMPLETE),
        ((OSError("reset"),), FailureKind.TERMINATED),
        ((b"NOT HTTP\r\n\r\n",), FailureKind.PROTOCOL),
    ],
)
async def test_failures_before_the_head(script, kind):
    stream = ScriptedStream(*script)
    client = UpstreamClient(ScriptedNetwork(stream))
    with pytest.raises(UpstreamError) as failed:
        await client.request(ORIGIN, get())
    assert failed.value.kind is kind and stream.closed


@pytest.mark.anyio
async def test_a_body_cut_short_is_incomplete_and_closes():
    stream = ScriptedStream(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    client = UpstreamClient(ScriptedNetwork(stream))
    response = await client.request(ORIGIN, get())
    assert await response.receive() == b"abc"
    with pytest.raises(UpstreamError) as failed:
        await response.receive()
    assert failed.value.kind is FailureKind.INCOMPLETE and stream.closed
    assert await response.receive() == b""


@pytest.mark.anyio
async def test_a_body_until_close_is_not_pooled():
    stream = ScriptedStream(b"HTTP/1.1 200 OK\r\n\r\nall of it")
    client = UpstreamClient(ScriptedNetwork(stream))
    assert await read_all(client, get()) == (200, b"all of it")
    assert stream.closed and client.pool.idle_count() == 0


# -- timeouts --------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_head_timeout():
    stream = ScriptedStream(WAIT)
    client = UpstreamClient(ScriptedNetwork(stream))
    with pytest.raises(UpstreamError) as failed:
        await client.request(ORIGIN, get(head_timeout=0.05))
    assert failed.value.kind is FailureKind.RESPONSE_TIMEOUT and stream.closed


@pytest.mark.anyio
async def test_body_chunk_timeout():
    stream = ScriptedStream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\na", WAIT)
    client = UpstreamClient(ScriptedNetwork(stream))
    response = await client.request(ORIGIN, get())
    assert await response.receive(0.05) == b"a"
    with pytest.raises(UpstreamError) as failed:
        await response.receive(0.05)
    assert failed.value.kind is FailureKind.RESPONSE_TIMEOUT and stream.closed


@pytest.mark.anyio
async def test_connect_timeout_and_refusal():
    class Hanging:
        async def connect(self, origin: Origin) -> NetworkStream:
            await anyio.sleep_forever()
            raise AssertionError

    client = UpstreamClient(Hanging())
    with pytest.raises(UpstreamError) as failed:
        await client.request(Origin("10.0.0.1", 1, connect_timeout=0.05), get())
    assert failed.value.kind is FailureKind.CONNECT_TIMEOUT and failed.value.kind.connecting
    client = UpstreamClient(ScriptedNetwork(ConnectionRefusedError(111, "refused")))
    with pytest.raises(UpstreamError) as failed:
        await client.request(ORIGIN, get())
    assert failed.value.kind is FailureKind.CONNECT_REFUSED


# -- the stale-connection retry --------------------------------------------------------------
async def pooled(client: UpstreamClient, stream: ScriptedStream) -> None:
    """Run one exchange on ``stream`` so that it ends up idle in the pool."""
    assert await read_all(client, get()) == (200, b"ok")
    assert client.pool.idle_count(ORIGIN) == 1 and not stream.closed


@pytest.mark.anyio
@pytest.mark.parametrize("failure", [(), (OSError("reset"),)])
async def test_a_reused_connection_that_died_is_retried_once_on_a_new_one(failure):
    stale = ScriptedStream(OK, *failure)
    fresh = ScriptedStream(OK)
    network = ScriptedNetwork(stale, fresh)
    client = UpstreamClient(network)
    await pooled(client, stale)
    response = await client.request(ORIGIN, get("/again"))
    assert response.status == 200 and not response.reused
    assert stale.closed and len(network.origins) == 2
    assert fresh.sent.startswith(b"GET /again ")


@pytest.mark.anyio
async def test_a_failed_write_on_a_reused_connection_is_retried():
    stale = ScriptedStream(OK, fail_send_after=1)
    fresh = ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(stale, fresh))
    await pooled(client, stale)
    assert await read_all(client, get()) == (200, b"ok")
    assert stale.closed


@pytest.mark.anyio
async def test_no_retry_once_response_bytes_arrived():
    stale = ScriptedStream(OK, b"HTTP/1.1 200")
    client = UpstreamClient(ScriptedNetwork(stale, ScriptedStream(OK)))
    await pooled(client, stale)
    with pytest.raises(UpstreamError) as failed:
        await client.request(ORIGIN, get())
    assert failed.value.kind is FailureKind.INCOMPLETE


@pytest.mark.anyio
async def test_no_retry_for_a_streamed_body():
    async def body() -> AsyncIterator[bytes]:
        yield b"x"

    stale = ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(stale, ScriptedStream(OK)))
    await pooled(client, stale)
    request = UpstreamRequest("POST", "/", [("Host", b"h"), ("Content-Length", b"1")], body())
    with pytest.raises(UpstreamError) as failed:
        await client.request(ORIGIN, request)
    assert failed.value.kind is FailureKind.INCOMPLETE and stale.closed


@pytest.mark.anyio
async def test_no_retry_on_a_new_connection_and_only_one_retry():
    client = UpstreamClient(ScriptedNetwork(ScriptedStream()))
    with pytest.raises(UpstreamError):
        await client.request(ORIGIN, get())  # a new connection that fails: not retried
    stale = ScriptedStream(OK)
    network = ScriptedNetwork(stale, ScriptedStream(), ScriptedStream(OK))
    client = UpstreamClient(network)
    await pooled(client, stale)
    with pytest.raises(UpstreamError):
        await client.request(ORIGIN, get())  # reused, then new: both fail, no third try
    assert len(network.origins) == 2


@pytest.mark.anyio
async def test_no_retry_on_a_timeout():
    stale = ScriptedStream(OK, WAIT)
    client = UpstreamClient(ScriptedNetwork(stale, ScriptedStream(OK)))
    await pooled(client, stale)
    with pytest.raises(UpstreamError) as failed:
        await client.request(ORIGIN, get(head_timeout=0.05))
    assert failed.value.kind is FailureKind.RESPONSE_TIMEOUT


@pytest.mark.anyio
async def test_an_early_answer_to_a_failed_upload_is_returned():
    async def body() -> AsyncIterator[bytes]:
        yield b"x" * 10
        yield b"y" * 10

    stream = ScriptedStream(
        b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        fail_send_after=2,
    )
    client = UpstreamClient(ScriptedNetwork(stream))
    request = UpstreamRequest("PUT", "/", [("Host", b"h"), ("Content-Length", b"20")], body())
    response = await client.request(ORIGIN, request)
    assert response.status == 413
    assert await response.receive() == b""
    assert stream.closed and client.pool.idle_count() == 0


# -- the pool --------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_connections_are_reused_most_recent_first_and_per_origin():
    a, b, c = ScriptedStream(OK, OK), ScriptedStream(OK), ScriptedStream(OK)
    network = ScriptedNetwork(a, b, c)
    client = UpstreamClient(network)
    await pooled(client, a)
    response = await client.request(ORIGIN, get())
    assert response.reused
    assert await response.receive() == b"ok" and await response.receive() == b""
    context = ssl.create_default_context()
    other = Origin("127.0.0.1", 8080, tls=True, ssl_context=context)
    assert (await client.request(other, get())).status == 200  # its own connection
    assert network.origins[-1] == other
    assert Origin("h", 1, connect_timeout=1) == Origin("h", 1, connect_timeout=2)


@pytest.mark.anyio
async def test_a_stale_idle_connection_is_closed_not_used():
    stale, fresh = ScriptedStream(OK), ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(stale, fresh))
    await pooled(client, stale)
    stale.readable = True  # the origin closed it meanwhile
    response = await client.request(ORIGIN, get())
    assert not response.reused and stale.closed


@pytest.mark.anyio
async def test_connection_close_and_unread_bodies_are_not_pooled():
    closing = ScriptedStream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    unread = ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(closing, unread))
    assert await read_all(client, get()) == (200, b"ok")
    assert closing.closed
    response = await client.request(ORIGIN, get())
    await response.aclose()
    assert unread.closed and client.pool.idle_count() == 0


@pytest.mark.anyio
async def test_the_pool_keeps_at_most_its_limit_and_closes_on_aclose():
    streams = [ScriptedStream(OK) for _ in range(3)]
    client = UpstreamClient(ScriptedNetwork(*streams), max_idle_per_origin=2)
    responses = [await client.request(ORIGIN, get()) for _ in range(3)]
    for response in responses:
        while await response.receive():
            pass
    assert client.pool.idle_count(ORIGIN) == 2 and streams[2].closed
    await client.aclose()
    assert all(s.closed for s in streams) and client.pool.idle_count() == 0


@pytest.mark.anyio
async def test_expired_idle_connections_are_not_reused():
    old, fresh = ScriptedStream(OK), ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(old, fresh))
    client.pool.idle_expiry = 0.0
    await pooled(client, old)
    response = await client.request(ORIGIN, get())
    assert not response.reused and old.closed


# -- nothing leaks when the caller's side fails ----------------------------------------------
class ClientLeft(Exception):
    pass


@pytest.mark.anyio
async def test_a_failing_request_body_closes_the_connection():
    async def body() -> AsyncIterator[bytes]:
        yield b"part"
        raise ClientLeft("the client aborted its upload")

    stream = ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(stream))
    request = UpstreamRequest("POST", "/", [("Host", b"h"), ("Content-Length", b"100")], body())
    with pytest.raises(UpstreamError) as failed:
        await client.request(ORIGIN, request)
    assert failed.value.kind is FailureKind.BODY
    assert isinstance(failed.value.__cause__, ClientLeft)
    assert stream.closed and client.pool.idle_count() == 0


@pytest.mark.anyio
@pytest.mark.parametrize("body", [b"too long", b"x"])
async def test_a_body_that_does_not_match_its_length_closes_the_connection(body):
    async def chunks() -> AsyncIterator[bytes]:
        yield body

    stream = ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(stream))
    request = UpstreamRequest("POST", "/", [("Host", b"h"), ("Content-Length", b"4")], chunks())
    with pytest.raises(UpstreamError) as failed:
        await client.request(ORIGIN, request)
    assert failed.value.kind is FailureKind.REQUEST and stream.closed


@pytest.mark.anyio
async def test_cancellation_while_waiting_for_the_head_closes_the_connection():
    stream = ScriptedStream(WAIT)
    client = UpstreamClient(ScriptedNetwork(stream))
    with anyio.move_on_after(0.05):
        await client.request(ORIGIN, get())
    assert stream.closed and client.pool.idle_count() == 0


@pytest.mark.anyio
async def test_cancellation_while_reading_the_body_closes_the_connection():
    stream = ScriptedStream(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", WAIT)
    client = UpstreamClient(ScriptedNetwork(stream))
    response = await client.request(ORIGIN, get())
    assert await response.receive() == b"ab"
    with anyio.move_on_after(0.05):
        await response.receive()
    assert stream.closed and response.complete


@pytest.mark.anyio
async def test_a_head_waiter_can_give_up_for_a_while_and_wait_again():
    arrived = anyio.Event()

    class Late(ScriptedStream):
        async def receive(self, max_bytes: int = 65536) -> bytes:
            await arrived.wait()
            return await super().receive(max_bytes)

    stream = Late(OK)
    client = UpstreamClient(ScriptedNetwork(stream))
    tries: list[str] = []

    async def waiter(receive_head):
        with anyio.move_on_after(0.02):
            return await receive_head()
        tries.append("slow")
        arrived.set()
        return await receive_head()

    response = await client.request(ORIGIN, get(), wait_head=waiter)
    assert tries == ["slow"] and response.status == 200
    assert await response.receive() == b"ok"


@pytest.mark.anyio
async def test_detach_hands_over_the_stream_and_the_body_bytes_already_read():
    stream = ScriptedStream(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
    client = UpstreamClient(ScriptedNetwork(stream))
    response = await client.request(ORIGIN, get())
    raw, pending = response.detach()
    assert raw is stream and pending == b"5\r\nhel"
    await response.aclose()
    assert not stream.closed and client.pool.idle_count() == 0
    with pytest.raises(RuntimeError):
        response.upgrade()  # not a 101
    other = ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(other))
    response = await client.request(ORIGIN, get())
    assert await response.receive() == b"ok"
    with pytest.raises(RuntimeError):
        response.detach()  # the body is being read already


@pytest.mark.anyio
async def test_past_the_total_limit_the_oldest_idle_connection_goes():
    a, b, c = (ScriptedStream(OK) for _ in range(3))
    client = UpstreamClient(ScriptedNetwork(a, b, c), max_idle=2)
    for port in (1, 2, 3):
        response = await client.request(Origin("127.0.0.1", port), get())
        while await response.receive():
            pass
    assert a.closed and not b.closed and not c.closed
    assert client.pool.idle_count() == 2
    assert client.pool.idle_count(Origin("127.0.0.1", 1)) == 0


@pytest.mark.anyio
async def test_expired_idle_connections_are_swept():
    import compute_emu.upstream.pool as pool_module

    a, b = ScriptedStream(OK), ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(a, b))
    response = await client.request(Origin("127.0.0.1", 1), get())
    while await response.receive():
        pass
    client.pool.idle_expiry = 0.0
    client.pool._swept -= pool_module.SWEEP_EVERY + 1
    response = await client.request(Origin("127.0.0.1", 2), get())
    while await response.receive():
        pass
    assert a.closed and client.pool.idle_count() == 1


@pytest.mark.anyio
async def test_a_handshake_broken_off_is_a_tls_error():
    client = UpstreamClient(ScriptedNetwork(anyio.BrokenResourceError()))
    with pytest.raises(UpstreamError) as failed:
        await client.request(Origin("h", 443, tls=True), get())
    assert failed.value.kind is FailureKind.TLS_PROTOCOL and failed.value.kind.connecting
