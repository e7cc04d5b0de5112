"""Loopback socket rigs for the relay tests: browser <-> compute-emu <-> Pushpin."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import struct
from dataclasses import dataclass

import anyio
import anyio.abc
import pytest

from compute_emu.aio.relay import HIGH_WATER, READ_SIZE
from compute_emu.streams import pause_reading

BUFFER_BOUND = HIGH_WATER + READ_SIZE  # the most a relay may hold for a peer that stopped reading


class Loopback:
    """Connected TCP pairs on 127.0.0.1, as anyio asyncio socket streams."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))

    async def pair(self) -> tuple[anyio.abc.SocketStream, anyio.abc.SocketStream]:
        sock = socket.socket()
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, self.listener.getsockname())
        accepted, _ = self.listener.accept()
        ends = []
        for raw in (sock, accepted):
            stream = await anyio.abc.SocketStream.from_socket(raw)
            pause_reading(stream)  # as the server and the upstream client do
            ends.append(stream)
        return ends[0], ends[1]


class Wrapped(anyio.abc.ByteStream):
    """A byte stream that is not a plain asyncio socket: the relay's fallback path."""

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

    browser: anyio.abc.SocketStream
    client: anyio.abc.ByteStream  # compute-emu's side of the browser's connection
    upstream: anyio.abc.ByteStream  # compute-emu's side of the Pushpin connection
    pushpin: anyio.abc.SocketStream

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


async def reset(stream: anyio.abc.SocketStream) -> None:
    """Close with RST (SO_LINGER 0)."""
    sock = stream.extra(anyio.abc.SocketAttribute.raw_socket)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    await stream.aclose()


def queue_into_anyio(stream: anyio.abc.ByteStream) -> None:
    """Let the transport read what already arrived into anyio's read queue (white box)."""
    stream._transport.resume_reading()  # type: ignore[attr-defined]


def taken_over(stream: anyio.abc.ByteStream) -> bool:
    return stream._transport.get_protocol() is not stream._protocol  # type: ignore[attr-defined]


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def blob(n: int, seed: int) -> bytes:
    return (hashlib.sha256(str(seed).encode()).digest() * (n // 32 + 1))[:n]
