"""Taking a :class:`~.transport.ProtocolStream`'s transport over, and handing it back.

:class:`Side` replaces the stream as the transport's protocol (``set_protocol``), moves the
bytes the stream had read ahead out, keeps the EOF/closed/write-paused state, and later gives
the transport back to the stream in the state the relay leaves it in. :func:`takes` says
whether streams can be taken over: compute-emu's own streams on a live transport can; any
other stream (TLS, test doubles) goes through the stream-level pump instead.
"""

from __future__ import annotations

import asyncio

import anyio.abc

from .transport import WRITE_HIGH_WATER, ProtocolStream

READ_SIZE = 64 * 1024  # the most one read takes from the kernel (see Side.take)
HIGH_WATER = 64 * 1024  # a transport's write buffer above this pauses the side feeding it
LOW_WATER = 16 * 1024  # ...until it drains below this


def takes(*streams: anyio.abc.ByteStream) -> bool:
    """True if every one of ``streams`` is a stream on a transport that can be taken over."""
    return all(
        isinstance(stream, ProtocolStream)
        and stream.transport is not None
        and hasattr(stream.transport, "set_protocol")
        for stream in streams
    )


class Side(asyncio.Protocol):
    """One taken-over transport; remembers its stream and hands the transport back."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        assert isinstance(stream, ProtocolStream) and stream.transport is not None, "see takes()"
        self.stream = stream
        self.peer: Side = self
        self.lost_here = False  # connection_lost came to us, not to the stream
        self.taken = False
        self.queued = b""
        self.max_size: int | None = None  # the transport's own read size, if it had one
        self.transport: asyncio.Transport = stream.transport
        self.eof, self.lost_exc, self.write_paused = stream.relay_state()
        self.lost = stream.closed or self.transport.is_closing()

    def take(self) -> None:
        """Take the transport over (reading paused); the bytes already received go to
        ``queued``."""
        transport = self.transport
        self.queued = self.stream.take_buffered()
        if self.lost:
            return  # closing or closed: the transport stays the stream's
        transport.pause_reading()
        transport.set_protocol(self)
        transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)
        # asyncio's selector transport reads with recv(256 KiB): every read then allocates
        # 256 KiB, which glibc serves with mmap, mremap and munmap (~20 us a read here);
        # 64 KiB comes from the heap (~3 us)
        self.max_size = getattr(transport, "__dict__", {}).get("max_size")
        if isinstance(getattr(transport, "max_size", None), int):
            transport.max_size = READ_SIZE  # type: ignore[attr-defined]
        self.taken = True

    def restore(self) -> None:
        """Give the transport back to its stream, in the state we leave it in."""
        if not self.taken:
            return
        self.taken = False
        transport = self.transport
        if "max_size" in getattr(transport, "__dict__", {}):
            if self.max_size is None:
                del transport.max_size  # type: ignore[attr-defined]
            else:
                transport.max_size = self.max_size  # type: ignore[attr-defined]
        if transport.get_protocol() is self:
            transport.set_protocol(self.stream)
        if not self.lost_here and not transport.is_closing():
            transport.set_write_buffer_limits(WRITE_HIGH_WATER)
        self.stream.resume_after_relay(
            eof=self.eof, lost=self.lost_here, exc=self.lost_exc, write_paused=self.write_paused
        )

    def pause(self) -> None:
        """Stop reading (the other side's write buffer is full)."""
        if not (self.eof or self.lost):
            self.transport.pause_reading()

    def resume(self) -> None:
        """Read again, unless the other side still cannot take more."""
        if not (self.eof or self.lost or self.peer.write_paused):
            self.transport.resume_reading()

    # -- asyncio.Protocol ----------------------------------------------------------------
    def pause_writing(self) -> None:
        self.write_paused = True
        self.peer.pause()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.peer.resume()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = self.lost_here = True
        self.lost_exc = exc
