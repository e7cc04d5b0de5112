"""A scripted network for the upstream client's unit tests: streams that replay bytes."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel

from compute_emu.upstream.client import Origin, UpstreamClient, UpstreamRequest
from compute_emu.upstream.network import NetworkStream

ORIGIN = Origin("127.0.0.1", 8080)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
WAIT = object()  # in a script: block until the stream is closed (or cancelled)


class ScriptedStream(NetworkStream):
    """Answers ``receive`` from a script of byte strings, exceptions and WAIT; EOF after it."""

    def __init__(self, *script: Any, fail_send_after: int | None = None) -> None:
        self.script = list(script)
        self.sent = bytearray()
        self.writes = 0
        self.closed = False
        self.readable = False  # what is_readable() says (a stale idle connection: True)
        self.fail_send_after = fail_send_after

    async def receive(self, max_bytes: int = 65536, timeout: float | None = None) -> bytes:
        with anyio.fail_after(timeout):
            return await self._next(max_bytes)

    async def _next(self, max_bytes: int) -> bytes:
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

    def abort(self) -> None:
        self.closed = True

    @property
    def at_eof(self) -> bool:
        return self.closed or not self.script

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


async def pooled(client: UpstreamClient, stream: ScriptedStream) -> None:
    """Run one exchange on ``stream`` so that it ends up idle in the pool."""
    assert await read_all(client, get()) == (200, b"ok")
    assert client.pool.idle_count(ORIGIN) == 1 and not stream.closed
