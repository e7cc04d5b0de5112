"""The network under the upstream client: connect to an Origin, get a byte stream.

:class:`NetworkStream` is anyio's ``ByteStream`` contract (``receive`` raises
``anyio.EndOfStream`` at EOF; ``BrokenResourceError``/``OSError`` when the connection breaks)
plus :meth:`NetworkStream.is_readable`, which tells a pool whether an idle connection went
stale. Tests replace :class:`SocketNetwork` with one that returns scripted streams.
"""

from __future__ import annotations

import asyncio
import ipaddress
import select
import socket
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

import anyio
import anyio.abc
import anyio.streams.tls

from ..aio.transport import ProtocolStream
from ..streams import pause_reading
from .models import Origin
from .tls import default_context


class NetworkStream(anyio.abc.ByteStream):
    """A connected byte stream, as the client uses it."""

    @abstractmethod
    def is_readable(self) -> bool:
        """True if bytes or an EOF are waiting. An idle connection must never be readable:
        if it is, the peer closed it or sent something nobody asked for."""


class NetworkBackend(Protocol):
    """Opens connections. Raises ``OSError`` (``ssl.SSLError``, ``socket.gaierror``,
    ``ConnectionRefusedError`` ...) when it cannot; the client maps those to UpstreamError
    and applies the connect timeout around the call."""

    async def connect(self, origin: Origin) -> NetworkStream:
        """A new connection to ``origin`` (TLS handshake done when ``origin.tls``)."""
        ...


class SocketStream(NetworkStream):
    """A NetworkStream over one of anyio's (asyncio) socket or TLS streams."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream  # anyio's stream (for code that wants the real thing)
        self._protocol = getattr(
            _socket_stream(stream), "_protocol", None
        )  # anyio's asyncio StreamProtocol
        self._socket: socket.socket | None = stream.extra(
            anyio.abc.SocketAttribute.raw_socket, None
        )

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.stream.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        await self.stream.send(item)

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def aclose(self) -> None:
        await self.stream.aclose()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return self.stream.extra_attributes

    def is_readable(self) -> bool:
        protocol = self._protocol
        if protocol is not None and protocol.read_event.is_set():
            return True  # anyio already holds data or the EOF
        if self._socket is None:
            return True
        try:
            readable, _, _ = select.select([self._socket], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)


class TransportStream(ProtocolStream, NetworkStream):
    """A NetworkStream straight on an asyncio transport (compute-emu's own
    :class:`~compute_emu.transport.ProtocolStream`): plain TCP to an IP address, the hot path
    (Pushpin, local backends). It reads ahead up to its high-water mark, so an idle pooled
    connection learns of the origin's EOF (or of stray bytes) without a system call."""

    def is_readable(self) -> bool:
        return bool(self._buffer) or self._eof or self._lost or self._closed


def anyio_stream(stream: NetworkStream) -> anyio.abc.ByteStream:
    """The anyio stream under a :class:`SocketStream` (a relay can take its transport over);
    any other NetworkStream (a :class:`TransportStream` is one a relay can take) as it is."""
    return stream.stream if isinstance(stream, SocketStream) else stream


class SocketNetwork:
    """Real TCP (and TLS). An IP literal is connected to directly, without anyio's resolver
    thread and happy-eyeballs task group (about 0.5 ms per connection here; every Fanout
    handoff to 127.0.0.1 would pay it)."""

    async def connect(self, origin: Origin) -> NetworkStream:
        stream: anyio.abc.ByteStream
        if origin.tls:
            stream = await anyio.connect_tcp(
                origin.host,
                origin.port,
                ssl_context=origin.ssl_context or default_context(),
                tls_hostname=origin.server_hostname or origin.host,
                tls_standard_compatible=False,
            )
        elif _is_ip_literal(origin.host):
            return await _connect_ip(origin.host, origin.port)
        else:
            stream = await anyio.connect_tcp(origin.host, origin.port)
        sock = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pause_reading(_socket_stream(stream))  # read only when asked (upload back-pressure)
        return SocketStream(stream)


def _socket_stream(stream: anyio.abc.ByteStream) -> anyio.abc.ByteStream:
    """The socket stream under any TLS layers."""
    while isinstance(stream, anyio.streams.tls.TLSStream):
        stream = cast(anyio.abc.ByteStream, stream.transport_stream)
    return stream


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _connect_ip(host: str, port: int) -> TransportStream:
    """A TCP connection to an IP address, straight through the event loop."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (host, port))
        _, stream = await loop.create_connection(TransportStream, sock=sock)
    except BaseException:
        sock.close()
        raise
    return stream
