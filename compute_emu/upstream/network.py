"""The network under the upstream client: connect to an Origin, get a byte stream.

A connection is compute-emu's one stream interface (:class:`~compute_emu.aio.stream.Stream`,
named :data:`NetworkStream` here): plain TCP is a
:class:`~compute_emu.aio.transport.ProtocolStream` (:func:`compute_emu.aio.connect.connect`),
TLS is anyio's ``TLSStream`` over one (:class:`TLSConnection`). ``Stream.is_readable`` tells
the pool whether an idle connection went stale. Tests replace :class:`SocketNetwork` with one
that returns scripted streams.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import anyio
import anyio.streams.tls

from ..aio.connect import connect
from ..aio.stream import Stream
from .models import Origin
from .tls import default_context

NetworkStream = Stream  # what the client's connections are: compute-emu's one stream interface


class NetworkBackend(Protocol):
    """Opens connections. Raises ``OSError`` (``ssl.SSLError``, ``socket.gaierror``,
    ``ConnectionRefusedError`` ...) when it cannot; the client maps those to UpstreamError
    and applies the connect timeout around the call."""

    async def connect(self, origin: Origin) -> NetworkStream:
        """A new connection to ``origin`` (TLS handshake done when ``origin.tls``)."""
        ...


class TLSConnection(Stream):
    """TLS to an origin: anyio's ``TLSStream`` over a connection of compute-emu's own, which
    reads ahead (bounded), so an idle pooled connection shows the origin's EOF or stray bytes
    without a read."""

    def __init__(self, tls: anyio.streams.tls.TLSStream, raw: Stream) -> None:
        self.tls = tls
        self.raw = raw  # the TCP connection under the TLS layer

    async def receive(self, max_bytes: int = 65536, timeout: float | None = None) -> bytes:
        if timeout is None:
            return await self.tls.receive(max_bytes)
        with anyio.fail_after(timeout):
            return await self.tls.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        await self.tls.send(item)

    async def send_eof(self) -> None:
        await self.tls.send_eof()  # NotImplementedError: TLS cannot half-close

    async def aclose(self) -> None:
        await self.tls.aclose()

    def abort(self) -> None:
        self.raw.abort()

    @property
    def at_eof(self) -> bool:
        return self.raw.at_eof

    def is_readable(self) -> bool:
        return self.raw.is_readable()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return self.tls.extra_attributes


class SocketNetwork:
    """Real TCP (and TLS), on compute-emu's own connections."""

    async def connect(self, origin: Origin) -> NetworkStream:
        raw = await connect(origin.host, origin.port)
        if not origin.tls:
            return raw
        try:
            tls = await anyio.streams.tls.TLSStream.wrap(
                raw,
                hostname=origin.server_hostname or origin.host,
                ssl_context=origin.ssl_context or default_context(),
                standard_compatible=False,
            )
        except BaseException:
            raw.abort()
            raise
        return TLSConnection(tls, raw)
