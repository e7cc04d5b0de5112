"""relay.relay_chunked (a held response's chunked body, one way) on real loopback sockets,
at the transport level and through the stream-level fallback."""

from __future__ import annotations

import hashlib

import anyio
import h11
import pytest

from compute_emu.upstream.relay import BodyEnd, relay_chunked
from tests.support.relay_rig import (
    BUFFER_BOUND,
    MODES,
    Loopback,
    blob,
    fd_count,
    make_rig,
    read_ahead,
    read_all,
    read_exactly,
    reset,
)

BODY = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Done: yes\r\n\r\n"


@MODES
@pytest.mark.anyio
async def test_chunked_body_is_relayed_unchanged_and_ends_at_the_last_chunk(
    net: Loopback, mode: str
) -> None:
    rig = await make_rig(net, mode)
    after = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"
    with anyio.fail_after(10):
        await rig.pushpin.send(BODY[10:] + after)
        result = await relay_chunked(rig.upstream, rig.client, BODY[:10])
        assert result.end is BodyEnd.COMPLETE and result.complete
        assert result.body_bytes == len(BODY)
        assert result.payload_bytes == 12
        assert result.trailing == after[: len(result.trailing)]  # read past the end...
        assert not result.upstream_reusable or not result.trailing
        await rig.client.send(b"NEXT")  # the client stream is usable again, in order
        assert await read_exactly(rig.browser, len(BODY) + 4) == BODY + b"NEXT"
        rest = after[len(result.trailing) :]  # ...the rest is still unread upstream
        assert await read_exactly(rig.upstream, len(rest)) == rest
    await rig.aclose()


@MODES
@pytest.mark.anyio
async def test_chunked_trailing_bytes_in_one_packet_are_not_relayed(
    net: Loopback, mode: str
) -> None:
    rig = await make_rig(net, mode)
    with anyio.fail_after(10):
        await rig.pushpin.send(BODY + b"EVIL")
        await anyio.sleep(0.05)  # one read gets the body and what follows
        result = await relay_chunked(rig.upstream, rig.client)
        assert result.complete and result.trailing == b"EVIL" and not result.upstream_reusable
        await rig.client.send_eof()
        assert await read_all(rig.browser) == BODY
    await rig.aclose()


@MODES
@pytest.mark.anyio
async def test_chunked_held_stream_relays_each_chunk_as_it_comes(net: Loopback, mode: str) -> None:
    rig = await make_rig(net, mode)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            results = []

            async def run() -> None:
                results.append(await relay_chunked(rig.upstream, rig.client))

            tg.start_soon(run)
            for i in range(20):
                chunk = b"message %d\n" % i
                frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
                await rig.pushpin.send(frame)
                assert await read_exactly(rig.browser, len(frame)) == frame
            await rig.pushpin.send(b"0\r\n\r\n")
            assert await read_exactly(rig.browser, 5) == b"0\r\n\r\n"
        assert results[0].complete and results[0].trailing == b""
        assert results[0].upstream_reusable
    await rig.aclose()


@MODES
@pytest.mark.parametrize("how", ["eof", "reset", "data"])
@pytest.mark.anyio
async def test_chunked_client_leaving_is_noticed(net: Loopback, mode: str, how: str) -> None:
    rig = await make_rig(net, mode)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            results = []

            async def run() -> None:
                results.append(await relay_chunked(rig.upstream, rig.client, b"5\r\nhello\r\n"))

            tg.start_soon(run)
            assert await read_exactly(rig.browser, 10) == b"5\r\nhello\r\n"
            if how == "eof":
                await rig.browser.send_eof()
            elif how == "reset":
                await reset(rig.browser)
            else:
                await rig.browser.send(b"GET /next HTTP/1.1\r\n")
        result = results[0]
    assert result.end is BodyEnd.CLIENT_GONE and not result.complete
    assert result.body_bytes == 10
    assert result.client_data == (b"GET /next HTTP/1.1\r\n" if how == "data" else b"")
    if how == "eof" and mode == "transport":  # handed back to anyio in the state it is in
        with pytest.raises(anyio.EndOfStream):
            await rig.client.receive()
        await rig.client.send(b"0\r\n\r\n")  # half-closed by the browser: still writable
        assert await read_exactly(rig.browser, 5) == b"0\r\n\r\n"
    await rig.aclose()


@MODES
@pytest.mark.anyio
async def test_chunked_client_gone_before_the_relay_starts(net: Loopback, mode: str) -> None:
    rig = await make_rig(net, mode)
    await rig.browser.send_eof()
    await read_ahead(rig.client, eof=True)  # the stream saw the EOF already
    with anyio.fail_after(10):
        await rig.pushpin.send(b"5\r\nhello\r\n")
        result = await relay_chunked(rig.upstream, rig.client)
    assert result.end is BodyEnd.CLIENT_GONE
    await rig.aclose()


@MODES
@pytest.mark.parametrize(
    "request_head",
    [b"GET / HTTP/1.0\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"],
)
@pytest.mark.anyio
async def test_chunked_client_that_asked_to_close_is_released_when_it_goes(
    net: Loopback, mode: str, request_head: bytes
) -> None:
    """The h11 server reached MUST_CLOSE; the relay still notices the client leaving."""
    rig = await make_rig(net, mode)
    server = h11.Connection(h11.SERVER)
    with anyio.fail_after(10):
        await rig.browser.send(request_head)
        while not isinstance(event := server.next_event(), h11.EndOfMessage):
            if event is h11.NEED_DATA:
                server.receive_data(await rig.client.receive())
        http10 = request_head.endswith(b"HTTP/1.0\r\n\r\n")
        head = h11.Response(status_code=200, headers=[("Content-Type", "text/plain")])
        await rig.client.send(server.send(head) or b"")
        async with anyio.create_task_group() as tg:
            results = []

            async def run() -> None:
                results.append(await relay_chunked(rig.upstream, rig.client, dechunk=http10))

            tg.start_soon(run)
            await rig.pushpin.send(b"5\r\nhello\r\n")
            response = await rig.browser.receive()
            while not response.endswith(b"hello" if http10 else b"hello\r\n"):
                response += await rig.browser.receive()
            await rig.browser.aclose()  # the browser goes (urllib, curl on Ctrl-C...)
        assert results[0].end is BodyEnd.CLIENT_GONE
    await rig.aclose()


@MODES
@pytest.mark.anyio
async def test_chunked_dechunk_sends_only_chunk_data(net: Loopback, mode: str) -> None:
    rig = await make_rig(net, mode)
    with anyio.fail_after(10):
        await rig.pushpin.send(BODY)
        result = await relay_chunked(rig.upstream, rig.client, dechunk=True)
        assert result.complete and result.body_bytes == result.payload_bytes == 12
        await rig.client.send_eof()
        assert await read_all(rig.browser) == b"hello, world"
    await rig.aclose()


@MODES
@pytest.mark.parametrize(
    ("how", "end"),
    [
        ("eof", BodyEnd.UPSTREAM_CLOSED),
        ("reset", BodyEnd.UPSTREAM_FAILED),
        ("invalid", BodyEnd.UPSTREAM_FAILED),
    ],
)
@pytest.mark.anyio
async def test_chunked_upstream_ending_early_is_an_error(
    net: Loopback, mode: str, how: str, end: BodyEnd
) -> None:
    rig = await make_rig(net, mode)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            results = []

            async def run() -> None:
                results.append(await relay_chunked(rig.upstream, rig.client))

            tg.start_soon(run)
            await rig.pushpin.send(b"5\r\nhello\r\n")
            assert await read_exactly(rig.browser, 10) == b"5\r\nhello\r\n"
            if how == "eof":
                await rig.pushpin.send_eof()
            elif how == "reset":
                await reset(rig.pushpin)
            else:
                await rig.pushpin.send(b"5\r\nhelloXX")  # not CRLF after the data
        result = results[0]
    assert result.end is end and not result.complete and result.detail
    await rig.aclose()


@pytest.mark.anyio
async def test_chunked_slow_client_pauses_pushpin_and_bounds_the_buffer(net: Loopback) -> None:
    rig = await make_rig(net, "transport")
    piece = blob(60_000, 4)
    frame = b"%x\r\n%s\r\n" % (len(piece), piece)
    count = 1600  # ~96 MB
    written = [0]
    largest = [0]
    transport = rig.client.transport
    results = []
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                results.append(await relay_chunked(rig.upstream, rig.client))

            async def pushpin_writes() -> None:
                for _ in range(count):
                    await rig.pushpin.send(frame)
                    written[0] += 1
                await rig.pushpin.send(b"0\r\n\r\n")

            tg.start_soon(run)
            tg.start_soon(pushpin_writes)
            for _ in range(100):
                await anyio.sleep(0.01)
                largest[0] = max(largest[0], transport.get_write_buffer_size())
            stalled_at = written[0]
            await anyio.sleep(0.2)
            assert written[0] == stalled_at < count
            assert largest[0] <= BUFFER_BOUND
            total = count * len(frame) + 5
            received = 0
            digest = hashlib.sha256()
            while received < total:
                data = await rig.browser.receive(1 << 20)
                largest[0] = max(largest[0], transport.get_write_buffer_size())
                digest.update(data)
                received += len(data)
    assert largest[0] <= BUFFER_BOUND
    expected = hashlib.sha256()
    for _ in range(count):
        expected.update(frame)
    expected.update(b"0\r\n\r\n")
    assert digest.digest() == expected.digest()
    assert results[0].complete and results[0].payload_bytes == count * len(piece)
    await rig.aclose()


@MODES
@pytest.mark.anyio
async def test_chunked_cancelled_closes_both(net: Loopback, mode: str) -> None:
    rig = await make_rig(net, mode)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(relay_chunked, rig.upstream, rig.client)
            await rig.pushpin.send(b"1\r\nx\r\n")
            assert await read_exactly(rig.browser, 6) == b"1\r\nx\r\n"
            tg.cancel_scope.cancel()
        assert await read_all(rig.browser) == b""
        assert await read_all(rig.pushpin) == b""
    await rig.aclose()


@MODES
@pytest.mark.anyio
async def test_chunked_leaves_no_fds_after_1000_relays(net: Loopback, mode: str) -> None:
    async def one(i: int) -> None:
        rig = await make_rig(net, mode)
        async with anyio.create_task_group() as tg:
            results = []

            async def run() -> None:
                results.append(await relay_chunked(rig.upstream, rig.client))

            tg.start_soon(run)
            await rig.pushpin.send(b"4\r\n%04d\r\n" % i)
            await read_exactly(rig.browser, 9)
            if i % 3 == 0:
                await rig.pushpin.send(b"0\r\n\r\n")
            elif i % 3 == 1:
                await rig.browser.send_eof()
            else:
                await reset(rig.pushpin)
        await rig.aclose()

    before = fd_count()
    with anyio.fail_after(120):
        for batch in range(10):
            async with anyio.create_task_group() as tg:
                for i in range(100):
                    tg.start_soon(one, batch * 100 + i)
    await anyio.sleep(0.05)
    assert fd_count() == before
