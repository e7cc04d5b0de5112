"""The HTTP/1.1 front door in-process, on real sockets: timeouts and isolation."""

from __future__ import annotations

import socket
import time

import anyio
import anyio.abc
import pytest

from compute_emu.aio.listener import Listener
from compute_emu.aio.stream import Stream
from compute_emu.aio.transport import ProtocolStream
from compute_emu.server.connection import Addresses, Connection, Exchange, Handler, Limits
from compute_emu.server.framing import HttpDate


async def hello(exchange: Exchange) -> None:
    if exchange.target == "/boom":
        raise RuntimeError("handler bug")
    await exchange.send_response(200, [("content-length", b"2")], b"ok")


DEFAULT_LIMITS = Limits()


async def serve_in_background(
    tg: anyio.abc.TaskGroup, limits: Limits = DEFAULT_LIMITS, handler: Handler = hello
) -> int:
    listener = await Listener.open("127.0.0.1", 0)
    port = listener.address[1]
    date = HttpDate()

    async def handle(stream: Stream) -> None:
        await Connection(
            stream, Addresses(("127.0.0.1", 1), ("127.0.0.1", port)), handler, date, limits
        ).serve()

    tg.start_soon(listener.serve, handle)
    return port


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.anyio
async def test_a_slowly_dripped_head_gets_408():
    async with anyio.create_task_group() as tg:
        port = await serve_in_background(tg, Limits(header_timeout=1.0))

        def client() -> tuple[bytes, float]:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                started = time.monotonic()
                s.sendall(b"GET / HTTP/1.1\r\n")
                try:
                    for _ in range(20):  # one byte every 0.3 s: never a 1 s gap
                        time.sleep(0.3)
                        s.sendall(b"X")
                except OSError:
                    pass
                return read_all(s), time.monotonic() - started

        data, elapsed = await anyio.to_thread.run_sync(client)
        tg.cancel_scope.cancel()
    assert data.startswith(b"HTTP/1.1 408 ")
    assert elapsed < 4


@pytest.mark.anyio
async def test_an_idle_keep_alive_connection_is_closed_quietly():
    async with anyio.create_task_group() as tg:
        port = await serve_in_background(tg, Limits(idle_timeout=0.5))

        def client() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                time.sleep(0.1)
                first = s.recv(65536)
                assert first.endswith(b"ok")
                return read_all(s)  # then nothing more, and EOF after the idle timeout

        assert await anyio.to_thread.run_sync(client) == b""
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_one_connection_failing_does_not_touch_another():
    async with anyio.create_task_group() as tg:
        port = await serve_in_background(tg)

        def client() -> tuple[bytes, bytes]:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as good:
                good.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                assert good.recv(65536).endswith(b"ok")
                with socket.create_connection(("127.0.0.1", port), timeout=10) as bad:
                    bad.sendall(b"GET /boom HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    broken = read_all(bad)
                good.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                return broken, good.recv(65536)

        broken, still_fine = await anyio.to_thread.run_sync(client)
        tg.cancel_scope.cancel()
    assert broken == b""  # that connection was closed...
    assert still_fine.endswith(b"ok")  # ...and the other one kept working


@pytest.mark.anyio
async def test_stopping_the_server_does_not_wait_out_a_keep_alive_connections_linger(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The listener cancels each connection's task once when the server stops (compute-emu
    serve on SIGTERM); the connection must close at once, not linger for the client."""
    monkeypatch.setattr("compute_emu.server.connection.LINGER", 60.0)
    listener = await Listener.open("127.0.0.1", 0)
    port = listener.address[1]
    date = HttpDate()

    async def handle(stream: ProtocolStream) -> None:
        addresses = Addresses(("127.0.0.1", 1), ("127.0.0.1", port))
        await Connection(stream, addresses, hello, date, DEFAULT_LIMITS).serve()

    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        with anyio.fail_after(20):  # the linger alone would take 60 s
            async with anyio.create_task_group() as tg:
                tg.start_soon(listener.serve, handle)
                client.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                answer = b""
                while not answer.endswith(b"ok"):
                    answer += await anyio.to_thread.run_sync(client.recv, 65536)
                tg.cancel_scope.cancel()  # the client keeps its connection open
        assert await anyio.to_thread.run_sync(read_all, client) == b""
