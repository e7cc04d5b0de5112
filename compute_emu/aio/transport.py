"""A byte stream straight on an asyncio transport: the socket layer of compute-emu.

anyio's asyncio ``SocketStream`` resumes reading before every ``receive()`` that waits and
pauses it again afterwards: two ``epoll_ctl`` calls per read, a fifth of the event loop's time
on a hello-world request. :class:`ProtocolStream` reads the way asyncio's own streams do: the
transport keeps reading until ``HIGH_WATER`` bytes are buffered unread, is paused there and
resumed when the reader has caught up, so memory stays bounded (a fast upload is not read into
memory ahead of its consumer) without a system call per read. Writes wait only while the
transport's buffer is above its high-water mark.

It is the protocol and the stream in one object (one attribute hop less on every read and
write); the rest of compute-emu sees only the stream side, :class:`~.stream.Stream`. The
transport and the unread bytes can be taken over by the transport-level relay
(:mod:`.takeover`). Connections arrive through :mod:`.listener` and are opened by
:mod:`.connect`.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import socket
from collections.abc import Callable, Mapping
from typing import Any, cast

import anyio
import anyio.abc
import anyio.lowlevel

from .stream import Stream

HIGH_WATER = 64 * 1024  # unread bytes buffered before the transport stops reading
WRITE_HIGH_WATER = 64 * 1024  # unsent bytes before send() waits
READ_SIZE = 64 * 1024  # the most one read takes from the kernel


class ProtocolStream(asyncio.Protocol, Stream):
    """An asyncio protocol that is also compute-emu's byte stream (see the module docstring)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        # unread chunks; None while there are none (an empty deque is 760 bytes, and a held
        # stream keeps its streams for hours)
        self._buffer: collections.deque[bytes] | None = None
        self._buffered = 0
        self._eof = False
        self._error: BaseException | None = None
        self._closed = False
        self._reading_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._lost = False

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # duck-typed: uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(WRITE_HIGH_WATER)
        if isinstance(getattr(transport, "max_size", None), int):
            # asyncio's selector transport reads with recv(256 KiB): glibc serves each such
            # buffer with mmap/munmap (~20 us a read); 64 KiB comes from the heap (~3 us)
            transport.max_size = READ_SIZE  # type: ignore[attr-defined]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self._buffer is None:
            self._buffer = collections.deque()
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= HIGH_WATER and not self._reading_paused and self.transport:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return True  # keep our write side open (half-close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._eof = True
        if exc is not None:
            self._error = exc
        self._wake()
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    def pause_writing(self) -> None:
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- Stream ----------------------------------------------------------------------------
    async def receive(self, max_bytes: int = 65536, timeout: float | None = None) -> bytes:
        """The next bytes (at most ``max_bytes``); EndOfStream at EOF.

        With ``timeout``, TimeoutError if nothing arrives in time (one timer, armed only when
        the read has to wait: cheaper than a cancel scope around every read).
        """
        while not self._buffer:
            if self._closed:
                raise anyio.ClosedResourceError
            if self._error is not None:
                raise anyio.BrokenResourceError from self._error
            if self._eof:
                raise anyio.EndOfStream
            if self._waiter is not None:
                raise anyio.BusyResourceError("reading from")
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        buffer = self._buffer
        chunk = buffer.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            buffer.appendleft(rest)
        elif not buffer:
            self._buffer = None
        self._buffered -= len(chunk)
        if self._reading_paused and self._buffered < HIGH_WATER // 2 and not self._lost:
            self._reading_paused = False
            assert self.transport is not None
            self.transport.resume_reading()
        return chunk

    async def send(self, item: bytes) -> None:
        """Write ``item``; waits while the peer is slow to take what was written."""
        if (drain := self._write(item)) is not None:
            await drain
            if self._lost:
                raise anyio.BrokenResourceError from self._error

    def _write(self, item: bytes) -> asyncio.Future[None] | None:
        """Hand ``item`` to the transport; the future to wait for if the peer is slow."""
        if self._closed:
            raise anyio.ClosedResourceError
        transport = self.transport
        if transport is None or self._lost or transport.is_closing():
            raise anyio.BrokenResourceError from self._error
        transport.write(item)
        return self._drain

    def send_may_wait(self, size: int) -> bool:
        """Whether writing ``size`` bytes would take the transport's buffer past its high-water
        mark (then the write waits for the peer)."""
        transport = self.transport
        return transport is not None and transport.get_write_buffer_size() + size > WRITE_HIGH_WATER

    async def send_within(self, item: bytes, timeout: float | None) -> bool:
        """Write ``item``; if the peer is slow to take what was written, wait for it at most
        ``timeout`` seconds (None: no limit; ``TimeoutError``). True if it had to wait. One
        timer, armed only when the write waits."""
        if (drain := self._write(item)) is None:
            return False
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()  # its own: a timeout leaves the drain future alone
        drain.add_done_callback(functools.partial(_release, waiter))
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
        if self._lost:
            raise anyio.BrokenResourceError from self._error
        return True

    async def send_eof(self) -> None:
        """Half-close: no more writes; reading goes on."""
        if self.transport is not None and not self._lost and self.transport.can_write_eof():
            self.transport.write_eof()

    async def aclose(self) -> None:
        """Close the connection (pending writes are flushed by the transport)."""
        self._closed = True
        if self.transport is not None:
            self.transport.close()
        self._wake()
        await anyio.lowlevel.checkpoint()

    def abort(self) -> None:
        """Close at once, dropping unsent data (a reset)."""
        self._closed = True
        if self.transport is not None:
            self.transport.abort()
        self._wake()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        transport = self.transport
        if transport is None:
            return {}
        sock: socket.socket | None = transport.get_extra_info("socket")
        if sock is None:
            return {}
        attributes: dict[Any, Callable[[], Any]] = {
            anyio.abc.SocketAttribute.family: lambda: sock.family,
            anyio.abc.SocketAttribute.local_address: lambda: sock.getsockname(),
            anyio.abc.SocketAttribute.raw_socket: lambda: sock,
        }
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            peer = transport.get_extra_info("peername")
            attributes[anyio.abc.SocketAttribute.remote_address] = lambda: peer
            attributes[anyio.abc.SocketAttribute.local_port] = lambda: sock.getsockname()[1]
            attributes[anyio.abc.SocketAttribute.remote_port] = lambda: peer[1]
        return attributes

    @property
    def at_eof(self) -> bool:
        """The peer sent EOF (or the connection is gone): the transport reads ahead, so this
        is known without a read."""
        return self._eof

    def is_readable(self) -> bool:
        """Bytes, an EOF or an error are waiting (read ahead by the transport)."""
        return bool(self._buffer) or self._eof or self._lost or self._closed

    # -- taking over (.takeover) ------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """aclose()/abort() was called, or the connection is gone."""
        return self._closed or self._lost

    def relay_state(self) -> tuple[bool, BaseException | None, bool]:
        """(peer sent EOF, the error the connection was lost with, writes paused)."""
        return self._eof, self._error, self._drain is not None

    def take_buffered(self) -> bytes:
        """The bytes received but not read, removed from the stream (a relay sends them)."""
        data = b"".join(self._buffer or ())
        self._buffer = None
        self._buffered = 0
        return data

    def resume_after_relay(
        self, *, eof: bool, lost: bool, exc: BaseException | None, write_paused: bool
    ) -> None:
        """A relay gave the transport back: take on the state it leaves (reading paused)."""
        self._reading_paused = False
        if lost:
            self.connection_lost(exc if isinstance(exc, Exception) else None)
            return
        if eof:
            self._eof = True
            self._wake()
        elif self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
        if write_paused:
            self.pause_writing()

    def detach(self) -> tuple[asyncio.Transport, bytes, bool]:
        """Give up the transport: returns it, the bytes received but not read, and whether the
        peer already sent EOF. The caller installs its own protocol (``set_protocol``) and
        resumes reading; this stream is unusable afterwards."""
        if self.transport is None or self._closed:
            raise anyio.ClosedResourceError
        transport, self.transport = self.transport, None
        pending = b"".join(self._buffer or ())
        self._buffer = None
        self._buffered = 0
        self._closed = True
        return transport, pending, self._eof


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _release(waiter: asyncio.Future[None], _drained: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
