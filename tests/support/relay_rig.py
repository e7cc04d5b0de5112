"""Loopback socket rigs for the relay tests: browser <-> compute-emu <-> Pushpin."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
from dataclasses import dataclass

import anyio
import anyio.abc
import pytest

from compute_emu.aio.relay import HIGH_WATER, READ_SIZE
from compute_emu.aio.transport import ProtocolStream

BUFFER_BOUND = HIGH_WATER + READ_SIZE  # the most a relay may hold for a peer that stopped reading


class Loopback:
    """Connected TCP pairs on 127.0.0.1, as compute-emu's streams (what the server accepts and
    the upstream client opens)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))

    async def pair(self) -> tuple[ProtocolStream, ProtocolStream]:
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setblocking(False)
        await loop.sock_connect(sock, self.listener.getsockname())
        accepted, _ = self.listener.accept()
        accepted.setblocking(False)
        ends = []
        for raw in (sock, accepted):
            _, stream = await loop.create_connection(ProtocolStream, sock=raw)
            ends.append(stream)
        return ends[0], ends[1]


class Wrapped(anyio.abc.ByteStream):
    """A byte stream the transport-level relay cannot take over: the relay's fallback path."""

    def __init__(self, inner: anyio.abc.ByteStream) -> None:
        self.inner = inner

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.inner.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        await self.inner.send(item)

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Rig:
    """The four ends: browser <-> compute-emu's client socket | its Pushpin socket <-> Pushpin."""

    browser: ProtocolStream
    client: anyio.abc.ByteStream  # compute-emu's side of the browser's connection
    upstream: anyio.abc.ByteStream  # compute-emu's side of the Pushpin connection
    pushpin: ProtocolStream

    async def aclose(self) -> None:
        for stream in (self.browser, self.client, self.upstream, self.pushpin):
            await stream.aclose()


async def make_rig(net: Loopback, mode: str) -> Rig:
    browser, client = await net.pair()
    upstream, pushpin = await net.pair()
    if mode == "streams":
        return Rig(browser, Wrapped(client), Wrapped(upstream), pushpin)
    return Rig(browser, client, upstream, pushpin)


MODES = pytest.mark.parametrize("mode", ["transport", "streams"])


async def read_all(stream: anyio.abc.ByteStream) -> bytes:
    """Everything until EOF (or a reset)."""
    out = bytearray()
    try:
        while True:
            out += await stream.receive(1 << 20)
    except (anyio.EndOfStream, anyio.BrokenResourceError):
        return bytes(out)


async def read_exactly(stream: anyio.abc.ByteStream, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        out += await stream.receive(n - len(out))
    return bytes(out)


async def reset(stream: ProtocolStream) -> None:
    """Close with RST (SO_LINGER 0)."""
    stream.reset()
    await stream.aclose()


async def read_ahead(stream: anyio.abc.ByteStream, *, eof: bool = False) -> None:
    """Wait until ``stream`` has read ahead what its peer sent (and its EOF, with ``eof``)."""
    if isinstance(stream, Wrapped):
        stream = stream.inner
    assert isinstance(stream, ProtocolStream)
    with anyio.fail_after(10):
        while not (stream.at_eof if eof else stream.is_readable()):
            await anyio.sleep(0.001)


def taken_over(stream: anyio.abc.ByteStream) -> bool:
    assert isinstance(stream, ProtocolStream) and stream.transport is not None
    return stream.transport.get_protocol() is not stream


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def blob(n: int, seed: int) -> bytes:
    return (hashlib.sha256(str(seed).encode()).digest() * (n // 32 + 1))[:n]
