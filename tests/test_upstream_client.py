"""The upstream client over a scripted network (no sockets): responses whole, byte by byte
and with trailing data, framing errors, 1xx and 101, timeouts, and no leak on any failure."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
from tests.support.scripted_network import (
    OK,
    ORIGIN,
    WAIT,
    ScriptedNetwork,
    ScriptedStream,
    get,
    read_all,
)


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
    assert bytes(stream.sent) == b"GET / HTTP/1.1\r\nhost: example.test\r\n\r\n"  # as hyper


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
async def test_a_handshake_broken_off_is_a_tls_error():
    client = UpstreamClient(ScriptedNetwork(anyio.BrokenResourceError()))
    with pytest.raises(UpstreamError) as failed:
        await client.request(Origin("h", 443, tls=True), get())
    assert failed.value.kind is FailureKind.TLS_PROTOCOL and failed.value.kind.connecting
