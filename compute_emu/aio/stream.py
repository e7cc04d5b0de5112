"""The one byte stream the rest of compute-emu sees: a connection, whatever carries it.

:class:`Stream` is anyio's ``ByteStream`` contract (``receive`` raises ``anyio.EndOfStream``
at EOF, ``anyio.BrokenResourceError`` or ``OSError`` when the connection breaks) plus what a
server, an HTTP client and a relay need of a connection: a read with a deadline, closing at
once (with or without a TCP reset), whether the peer has left or sent something, and a write
that says whether it had to wait for the peer. The front door, the upstream client and the
relay speak only this; which class carries the bytes is this package's business.

Every connection compute-emu accepts or opens is one: a
:class:`~compute_emu.aio.transport.ProtocolStream` (plain TCP on the event loop's
transport), or TLS over one (:class:`compute_emu.upstream.network.TLSConnection`).
"""

from __future__ import annotations

import contextlib
import socket
import struct
from abc import abstractmethod

import anyio
import anyio.abc

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets


class Stream(anyio.abc.ByteStream):
    """A connection's byte stream (see the module docstring)."""

    @abstractmethod
    async def receive(self, max_bytes: int = 65536, timeout: float | None = None) -> bytes:
        """The next bytes (at most ``max_bytes``); ``anyio.EndOfStream`` at EOF; with
        ``timeout``, ``TimeoutError`` if nothing arrives within that many seconds."""

    @abstractmethod
    def abort(self) -> None:
        """Close at once, dropping what is not sent yet (never raises)."""

    def reset(self) -> None:
        """Close at once with a TCP reset: the kernel drops what it still holds to send as
        well, and frees the connection now (a plain close keeps it until the peer has read
        everything, or TCP gives up minutes later)."""
        sock = self.extra(anyio.abc.SocketAttribute.raw_socket, None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        self.abort()

    @property
    @abstractmethod
    def at_eof(self) -> bool:
        """The peer sent EOF or reset, or the connection is closed (nothing is read to know)."""

    @abstractmethod
    def is_readable(self) -> bool:
        """Bytes or an EOF are waiting to be read (nothing is read to know)."""

    def send_may_wait(self, size: int) -> bool:
        """Whether writing ``size`` more bytes now may have to wait for the peer to read (a
        stream that buffers nothing of its own says False)."""
        return False

    async def send_within(self, item: bytes, timeout: float | None) -> bool:
        """Write ``item``, waiting for the peer at most ``timeout`` seconds (None: no limit;
        ``TimeoutError``: then the stream must be reset, its write is half done); True if the
        write had to wait for the peer. A stream that cannot tell counts every write as one
        that waited."""
        with anyio.fail_after(timeout):
            await self.send(item)
        return True
