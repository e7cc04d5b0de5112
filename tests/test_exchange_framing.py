"""The seam between the parser and the room above it: a head goes through the front door's
parser, then :class:`Exchange` is asked about its body. Whatever framing the parser accepted,
the exchange reports the same (it reads the parser's decision, never the headers again)."""

from __future__ import annotations

import socket

import anyio
import pytest

from compute_emu.rules.framing import CHUNKED, NO_BODY, Framing
from compute_emu.server.connection import Exchange
from tests.test_connection import read_all, serve_in_background

CASES = [
    (b"Content-Length: 5, 5\r\n\r\nhello", Framing("length", 5), 5, True),
    (b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", Framing("length", 5), 5, True),
    (b"Content-Length: 05\r\n\r\nhello", Framing("length", 5), 5, True),
    (b"Transfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", CHUNKED, None, True),
    (b"Content-Length: 0\r\n\r\n", Framing("length", 0), 0, False),
    (b"\r\n", NO_BODY, None, False),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("rest", "framing", "length", "has_body"), CASES)
async def test_the_exchange_reports_the_parsers_framing(
    rest: bytes, framing: Framing, length: int | None, has_body: bool
) -> None:
    seen: list[object] = []

    async def handler(exchange: Exchange) -> None:
        seen.extend([exchange.framing, exchange.declared_length(), exchange.has_body()])
        body = b""
        while chunk := await exchange.receive_body():
            body += chunk
        seen.append(body)
        await exchange.send_response(200, [("content-length", b"0")])

    async with anyio.create_task_group() as tg:
        port = await serve_in_background(tg, handler=handler)

        def client() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"PUT / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + rest)
                return read_all(s)

        answer = await anyio.to_thread.run_sync(client)
        tg.cancel_scope.cancel()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert seen == [framing, length, has_body, b"hello" if has_body else b""]
