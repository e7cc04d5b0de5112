"""ProtocolStream: compute-emu's byte stream on an asyncio transport, with bounded buffering;
the listener that accepts them and connect() that opens them."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import anyio
import pytest

from compute_emu.aio import transport
from compute_emu.aio.connect import connect
from compute_emu.aio.listener import Listener
from compute_emu.aio.transport import ProtocolStream


async def pair() -> tuple[ProtocolStream, ProtocolStream]:
    """Two connected ProtocolStreams over loopback TCP."""
    a, b = socket.socketpair(socket.AF_UNIX)
    loop = asyncio.get_running_loop()
    _, left = await loop.create_connection(ProtocolStream, sock=a)
    _, right = await loop.create_connection(ProtocolStream, sock=b)
    return left, right


@pytest.mark.anyio
async def test_bytes_both_ways_then_eof() -> None:
    left, right = await pair()
    await left.send(b"ping")
    assert await right.receive() == b"ping"
    await right.send(b"pong")
    assert await left.receive() == b"pong"
    await left.send_eof()  # half-close: right still writes
    with pytest.raises(anyio.EndOfStream):
        await right.receive()
    await right.send(b"after eof")
    assert await left.receive() == b"after eof"
    await left.aclose()
    await right.aclose()
    with pytest.raises(anyio.ClosedResourceError):
        await left.receive()


@pytest.mark.anyio
async def test_receive_splits_at_max_bytes_and_keeps_the_rest() -> None:
    left, right = await pair()
    await left.send(b"abcdef")
    await anyio.sleep(0.05)
    assert await right.receive(4) == b"abcd"
    assert await right.receive(4) == b"ef"
    await left.aclose()
    await right.aclose()


@pytest.mark.anyio
async def test_a_reader_that_does_not_read_stops_the_transport_reading() -> None:
    left, right = await pair()
    chunk = b"x" * 16384

    async def flood() -> None:
        while True:
            await left.send(chunk)

    async with anyio.create_task_group() as tg:
        tg.start_soon(flood)
        await anyio.sleep(0.3)
        # right never read: what it buffered stays near its high-water mark, the rest waits
        # in the kernel and in left's send()
        assert right._buffered < transport.HIGH_WATER + 256 * 1024  # + at most one read
        assert right._reading_paused
        received = 0
        while received < 4 * 1024 * 1024:
            received += len(await right.receive())
        tg.cancel_scope.cancel()
    await left.aclose()
    await right.aclose()


@pytest.mark.anyio
async def test_detach_hands_over_the_transport_and_unread_bytes() -> None:
    left, right = await pair()
    await left.send(b"unread")
    await left.send_eof()
    await anyio.sleep(0.05)
    raw, pending, eof = right.detach()
    assert pending == b"unread" and eof
    with pytest.raises(anyio.ClosedResourceError):
        await right.receive()
    raw.close()
    await left.aclose()


@pytest.mark.anyio
async def test_a_reset_peer_is_a_broken_stream() -> None:
    left, right = await pair()
    left.abort()
    with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
        await right.receive()
    await right.aclose()


@pytest.mark.anyio
async def test_listener_hands_each_connection_to_the_task_group() -> None:
    listener = await Listener.open("127.0.0.1", 0)
    host, port = listener.address
    seen: list[bytes] = []

    async def handle(stream: ProtocolStream) -> None:
        assert stream.extra(anyio.abc.SocketAttribute.remote_address)[0] == "127.0.0.1"
        seen.append(await stream.receive())
        await stream.send(b"bye")
        await stream.aclose()

    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        for n in range(3):
            client = await connect(host, port)
            await client.send(b"hello %d" % n)
            assert await client.receive() == b"bye"
            await client.aclose()
        tg.cancel_scope.cancel()
    assert seen == [b"hello 0", b"hello 1", b"hello 2"]
    with socket.socket() as probe:  # the port is closed again
        assert probe.connect_ex((host, port)) != 0


@pytest.mark.anyio
async def test_the_relay_takes_over_protocol_streams_and_gives_them_back() -> None:
    """A ProtocolStream's transport is taken over by the transport-level relay (fast path),
    bytes it had buffered go first, and it works as a stream again afterwards."""
    from compute_emu.aio.takeover import takes
    from compute_emu.upstream.relay import relay_chunked

    client_end, client = await pair()
    upstream, upstream_end = await pair()
    assert takes(client, upstream)
    await upstream_end.send(b"5\r\nhello\r\n")
    await anyio.sleep(0.05)  # buffered in the ProtocolStream before the relay starts

    async def rest() -> None:
        await anyio.sleep(0.05)
        await upstream_end.send(b"0\r\n\r\nNEXT")

    async with anyio.create_task_group() as tg:
        tg.start_soon(rest)
        result = await relay_chunked(upstream, client)
    assert result.complete and result.trailing == b"NEXT"
    received = b""
    while len(received) < len(b"5\r\nhello\r\n0\r\n\r\n"):
        received += await client_end.receive()
    assert received == b"5\r\nhello\r\n0\r\n\r\n"
    await client.send(b"still a stream")  # handed back
    assert await client_end.receive() == b"still a stream"
    for stream in (client_end, client, upstream, upstream_end):
        await stream.aclose()


@pytest.mark.anyio
async def test_a_failing_connection_handler_is_reported_and_touches_no_other() -> None:
    """Each connection is a task of its own: one that raises is reported (the loop's exception
    handler) and closed; the others go on, and ending serve() ends them all."""
    listener = await Listener.open("127.0.0.1", 0)
    host, port = listener.address
    reported: list[BaseException] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context["exception"]))
    held = anyio.Event()

    async def handle(stream: ProtocolStream) -> None:
        if await stream.receive() == b"fail":
            raise RuntimeError("this connection's handler broke")
        held.set()
        await anyio.sleep_forever()  # a held connection: ended when serve() ends

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)
            survivor = await connect(host, port)
            await survivor.send(b"hold")
            await held.wait()
            failing = await connect(host, port)
            await failing.send(b"fail")
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await failing.receive()  # closed by the listener
            assert listener.connections == 1 and [str(e) for e in reported] == [
                "this connection's handler broke"
            ]
            tg.cancel_scope.cancel()
        assert listener.connections == 0  # the held one was cancelled and waited for
        with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
            await survivor.receive()
        await survivor.aclose()
        await failing.aclose()
    finally:
        loop.set_exception_handler(None)


@pytest.mark.anyio
async def test_what_the_stream_knows_without_reading() -> None:
    """at_eof and is_readable come from what the transport read ahead: no read needed."""
    left, right = await pair()
    assert not right.is_readable() and not right.at_eof
    await left.send(b"x")
    with anyio.fail_after(5):
        while not right.is_readable():
            await anyio.sleep(0.001)
    assert not right.at_eof
    assert await right.receive() == b"x"
    assert not right.is_readable()
    await left.send_eof()
    with anyio.fail_after(5):
        while not right.at_eof:
            await anyio.sleep(0.001)
    assert right.is_readable()  # the EOF is there to be read
    await left.aclose()
    await right.aclose()


@pytest.mark.anyio
async def test_send_within_says_whether_it_waited_and_gives_up_in_time() -> None:
    left, right = await pair()
    assert not left.send_may_wait(10)
    assert await left.send_within(b"quick", 1.0) is False  # the transport took it at once
    assert await right.receive() == b"quick"
    piece = b"x" * transport.WRITE_HIGH_WATER
    while not left.send_may_wait(len(piece)):
        left.transport.write(piece)  # type: ignore[union-attr]
    # the peer reads nothing: the buffer stays above its mark, the write gives up in time
    started = anyio.current_time()
    with pytest.raises(TimeoutError):
        for _ in range(10_000):  # until the kernel's buffers are full too
            await left.send_within(piece, 0.2)
    assert anyio.current_time() - started < 10
    left.reset()

    a, b = await pair()
    while not a.send_may_wait(len(piece)):
        a.transport.write(piece)  # type: ignore[union-attr]

    async def reader() -> None:
        await anyio.sleep(0.1)
        with contextlib.suppress(anyio.EndOfStream):
            while await b.receive():
                pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        waited = [await a.send_within(piece, 10) for _ in range(50)]
        assert any(waited)  # ...those that waited for the reader say so
        await a.aclose()
    await b.aclose()
    await right.aclose()


@pytest.mark.anyio
async def test_connect_by_name_tries_each_address_and_reports_as_anyio_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name's addresses are tried in turn: a refused one gives way to the next at once, one
    that never answers to the next after 250 ms (happy eyeballs), and when none takes the
    connection the error has anyio's shape, which the upstream client maps to its kind."""
    from compute_emu.aio import connect as connecting
    from compute_emu.upstream.errors import FailureKind, connect_failure

    listener = await Listener.open("127.0.0.1", 0)
    host, port = listener.address
    # a listening socket whose one-place backlog is full: its SYNs go unanswered
    silent = socket.create_server(("127.0.0.1", 0), backlog=0)
    queued = [socket.create_connection(silent.getsockname())]
    refused = ("127.0.0.2", port)  # nobody listens there
    addresses: list[tuple[int, object]] = []

    async def resolved(name: str, port: int) -> list[tuple[int, object]]:
        assert name == "origin.test"
        return addresses

    monkeypatch.setattr(connecting, "_addresses", resolved)

    async def handle(stream: ProtocolStream) -> None:
        await stream.send(b"hi")
        await stream.aclose()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)
            for first in (refused, silent.getsockname()):
                addresses[:] = [(socket.AF_INET, first), (socket.AF_INET, (host, port))]
                started = anyio.current_time()
                with anyio.fail_after(5):
                    client = await connect("origin.test", port)
                assert anyio.current_time() - started < 2
                assert client.extra(anyio.abc.SocketAttribute.remote_port) == port
                assert await client.receive() == b"hi"
                await client.aclose()
            tg.cancel_scope.cancel()
    finally:
        for sock in (silent, *queued):
            sock.close()
    addresses[:] = [(socket.AF_INET, refused)]
    with pytest.raises(OSError) as failed:
        await connect("origin.test", port)
    assert str(failed.value) == "All connection attempts failed"
    assert connect_failure(failed.value).kind is FailureKind.CONNECT_REFUSED
    with pytest.raises(ConnectionRefusedError):
        await connect(host, port)  # an address: its own error, as anyio's
    monkeypatch.undo()
    with pytest.raises(socket.gaierror):
        await connect("no-such-host.invalid", port)
