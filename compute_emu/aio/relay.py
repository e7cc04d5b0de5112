"""Relaying bytes between two connections at asyncio's transport level: the fast path.

The relay takes both transports over (``transport.set_protocol``, :mod:`.takeover`): each
``data_received`` writes the bytes the kernel handed over straight to the other transport,
with no task per direction, no queue and no copy. Back-pressure runs both ways: a transport's
write buffer above :data:`HIGH_WATER` pauses reading from the side that fills it, until it
drains below :data:`LOW_WATER`. One future says when the relay is over; then each transport
goes back to its stream. :func:`takes` says whether two streams can be relayed here (both
are :class:`~.transport.ProtocolStream` objects on a live transport);
:mod:`compute_emu.upstream.relay` chooses between this and its stream-level pump.

- :func:`splice`: both ways, after a ``101 Switching Protocols``.
- :func:`relay_chunked`: a held HTTP response's chunked body, one way, with the client's
  read side watched so that a client leaving is noticed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import anyio.abc

from ..rules.chunked import ChunkedError, ChunkedScanner
from ..rules.ws_frames import FrameCounter
from .takeover import HIGH_WATER, LOW_WATER, READ_SIZE, Side, takes

__all__ = [
    "HIGH_WATER",
    "LOW_WATER",
    "READ_SIZE",
    "BodyEnd",
    "RelayResult",
    "relay_chunked",
    "splice",
    "takes",
]

CLOSE_TIMEOUT = 10.0  # seconds a finished splice waits for both sockets to flush and close


class BodyEnd(enum.Enum):
    """Why a chunked body relay stopped."""

    COMPLETE = "complete"  # the last chunk, trailers and final CRLF went to the client
    UPSTREAM_CLOSED = "upstream_closed"  # upstream sent EOF before the end of the body
    UPSTREAM_FAILED = "upstream_failed"  # upstream reset, or its body is not valid chunked
    CLIENT_GONE = "client_gone"  # the client sent EOF, reset, or sent bytes


@dataclass(frozen=True, slots=True)
class RelayResult:
    """What a body relay did."""

    end: BodyEnd
    body_bytes: int  # bytes written to the client (raw chunked, or chunk data with dechunk)
    payload_bytes: int  # chunk data among the body bytes scanned
    trailing: bytes  # upstream bytes read after the body's end (never relayed)
    client_data: bytes  # bytes the client sent meanwhile (never relayed)
    detail: str  # what went wrong; "" when complete

    @property
    def complete(self) -> bool:
        """The client received the whole body."""
        return self.end is BodyEnd.COMPLETE

    @property
    def upstream_reusable(self) -> bool:
        """The upstream connection ended the body cleanly with nothing read past it."""
        return self.end is BodyEnd.COMPLETE and not self.trailing


# -- splice --------------------------------------------------------------------------------
class _SpliceSide(Side):
    def __init__(self, relay: _Splice, stream: anyio.abc.ByteStream) -> None:
        super().__init__(stream)
        self.relay = relay
        self.sent = 0  # bytes written to the peer

    def data_received(self, data: bytes) -> None:
        self.peer.transport.write(data)
        self.sent += len(data)

    def eof_received(self) -> bool:
        self.relay.read_ended(self)
        return True  # keep the transport open: the other direction may go on

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.relay.side_lost()


class _InspectedSide(_SpliceSide):
    """A side whose reads are also given to an inspector (after they are written on)."""

    def __init__(
        self, relay: _Splice, stream: anyio.abc.ByteStream, inspect: Callable[[bytes], None]
    ) -> None:
        super().__init__(relay, stream)
        self.inspect = inspect

    def data_received(self, data: bytes) -> None:
        self.peer.transport.write(data)
        self.sent += len(data)
        self.inspect(data)


class _Splice:
    """Both directions between two taken-over transports."""

    def __init__(
        self,
        client: anyio.abc.ByteStream,
        upstream: anyio.abc.ByteStream,
        inspect: Callable[[int, bytes], None] | None = None,
        counters: tuple[FrameCounter, FrameCounter] | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.client: _SpliceSide
        self.upstream: _SpliceSide
        if inspect is not None:  # 0: what the client sent (to upstream), 1: what upstream sent
            self.client = _InspectedSide(self, client, lambda data: inspect(0, data))
            self.upstream = _InspectedSide(self, upstream, lambda data: inspect(1, data))
        elif counters is not None:  # one bound-method call per read
            self.client = _InspectedSide(self, client, counters[0].feed)
            self.upstream = _InspectedSide(self, upstream, counters[1].feed)
        else:  # no per-read call at all
            self.client = _SpliceSide(self, client)
            self.upstream = _SpliceSide(self, upstream)
        self.client.peer, self.upstream.peer = self.upstream, self.client
        self.sides = (self.client, self.upstream)
        self.ended = loop.create_future()  # both directions ended, or one failed
        self.closed = loop.create_future()  # both transports closed
        self.finished = False

    def start(self, client_pending: bytes, upstream_pending: bytes) -> None:
        for side in self.sides:
            side.take()
        for side, pending in ((self.client, client_pending), (self.upstream, upstream_pending)):
            data = pending + side.queued if side.queued else pending
            side.queued = b""
            if data and not side.peer.lost:
                side.data_received(data)
        if any(side.lost for side in self.sides):
            self.finish(failed=True)
            return
        for side in self.sides:
            if side.eof:
                self.read_ended(side)
        for side in self.sides:
            if not self.finished:
                side.resume()

    def read_ended(self, side: _SpliceSide) -> None:
        """``side`` sent EOF: half-close the peer's write direction (after its buffer)."""
        side.eof = True
        if self.finished:
            return
        peer = side.peer.transport
        if not peer.can_write_eof():
            self.finish(failed=True)
        else:
            peer.write_eof()
            if side.peer.eof:
                self.finish(failed=False)

    def side_lost(self) -> None:
        if not self.finished:
            self.finish(failed=True)  # a reset, or closed under us: end both
        if all(side.lost for side in self.sides) and not self.closed.done():
            self.closed.set_result(None)

    def finish(self, failed: bool) -> None:
        """End the relay: flush and close both (clean end), or abort both (a failure)."""
        if self.finished:
            return
        self.finished = True
        for side in self.sides:
            if failed:
                side.transport.abort()
            else:
                side.transport.close()
        if not self.ended.done():
            self.ended.set_result(None)
        if all(side.lost for side in self.sides) and not self.closed.done():
            self.closed.set_result(None)  # both were gone before we started

    async def wait_closed(self) -> None:
        """Wait (shielded) until both sockets are closed; abort them if flushing stalls."""
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(CLOSE_TIMEOUT):
                await asyncio.shield(self.closed)
            if not self.closed.done():
                for side in self.sides:
                    side.transport.abort()
                await asyncio.shield(self.closed)
            for side in self.sides:
                side.restore()
                with contextlib.suppress(Exception):
                    await side.stream.aclose()


async def splice(
    client: anyio.abc.ByteStream,
    upstream: anyio.abc.ByteStream,
    client_pending: bytes = b"",
    upstream_pending: bytes = b"",
    inspect: Callable[[int, bytes], None] | None = None,
    counters: tuple[FrameCounter, FrameCounter] | None = None,
) -> tuple[int, int]:
    """Relay both ways until both directions end (see :func:`compute_emu.upstream.relay.splice`);
    both streams must be ones this module :func:`takes`."""
    relay = _Splice(client, upstream, inspect, counters)
    try:
        relay.start(client_pending, upstream_pending)
        await asyncio.shield(relay.ended)
    except BaseException:
        relay.finish(failed=True)
        raise
    finally:
        await relay.wait_closed()
    return relay.client.sent, relay.upstream.sent


# -- a held response's chunked body ----------------------------------------------------------
class _BodyUpstream(Side):
    def __init__(self, relay: _BodyRelay, stream: anyio.abc.ByteStream) -> None:
        super().__init__(stream)
        self.relay = relay

    def data_received(self, data: bytes) -> None:
        self.relay.upstream_data(data)

    def eof_received(self) -> bool:
        self.eof = True
        self.relay.upstream_ended("Pushpin closed the connection before the end of the body")
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.relay.upstream_ended(f"the connection to Pushpin failed: {exc or 'closed'}")

    def pause_writing(self) -> None:
        self.write_paused = True  # we never write to Pushpin: nothing to pause

    def resume_writing(self) -> None:
        self.write_paused = False


class _BodyClient(Side):
    def __init__(self, relay: _BodyRelay, stream: anyio.abc.ByteStream) -> None:
        super().__init__(stream)
        self.relay = relay

    def data_received(self, data: bytes) -> None:
        self.relay.client_data += data
        self.relay.stop(BodyEnd.CLIENT_GONE, "the client sent data during the response")

    def eof_received(self) -> bool:
        self.eof = True
        self.relay.stop(BodyEnd.CLIENT_GONE, "the client closed the connection")
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.relay.stop(BodyEnd.CLIENT_GONE, f"the client connection failed: {exc or 'closed'}")

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.relay.outcome is not None:
            return
        if self.relay.draining:
            self.relay.stop(BodyEnd.COMPLETE, "")
        else:
            self.peer.resume()


class _BodyRelay:
    """Pushpin's chunked body to the client, bytes unchanged (or de-chunked)."""

    def __init__(
        self, upstream: anyio.abc.ByteStream, client: anyio.abc.ByteStream, dechunk: bool
    ) -> None:
        self.upstream = _BodyUpstream(self, upstream)
        self.client = _BodyClient(self, client)
        self.upstream.peer, self.client.peer = self.client, self.upstream
        self.scanner = ChunkedScanner()
        self.spans: list[tuple[int, int]] | None = [] if dechunk else None
        self.sent = 0
        self.trailing = b""
        self.client_data = b""
        self.draining = False
        self.outcome: tuple[BodyEnd, str] | None = None
        self.done = asyncio.get_running_loop().create_future()

    def start(self, pending: bytes) -> None:
        upstream, client = self.upstream, self.client
        upstream.take()
        client.take()
        if client.lost or client.eof or client.queued:
            self.client_data = client.queued
            self.stop(BodyEnd.CLIENT_GONE, "the client left before the body")
            return
        data = pending + upstream.queued if upstream.queued else pending
        upstream.queued = b""
        if data:
            self.upstream_data(data)
        if self.outcome is None and (upstream.lost or upstream.eof):
            self.upstream_ended("the connection to Pushpin ended before the body")
        if self.outcome is None:
            client.transport.resume_reading()  # watch the client from now on
            if not self.draining:
                upstream.resume()

    def upstream_data(self, data: bytes) -> None:
        if self.outcome is not None or self.draining:
            return
        spans, sink = self.spans, self.client.transport
        try:
            if spans is None:
                n = self.scanner.feed(data)
            else:
                spans.clear()
                n = self.scanner.feed(data, spans)
        except ChunkedError as exc:
            self.stop(BodyEnd.UPSTREAM_FAILED, f"invalid chunked body from Pushpin: {exc}")
            return
        if spans is None:
            if n:
                sink.write(data if n == len(data) else memoryview(data)[:n])
                self.sent += n
        else:
            view = memoryview(data)
            for start, end in spans:
                sink.write(view[start:end])
                self.sent += end - start
        if self.scanner.done:
            self.trailing = data[n:]
            self.body_ended()

    def body_ended(self) -> None:
        """The last chunk is written: stop reading Pushpin, finish once the client has it."""
        self.upstream.pause()
        sink = self.client.transport
        if sink.get_write_buffer_size() == 0:
            self.stop(BodyEnd.COMPLETE, "")
            return
        self.draining = True
        # with a zero high-water mark, the transport calls resume_writing() when empty
        sink.set_write_buffer_limits(high=0, low=0)

    def upstream_ended(self, detail: str) -> None:
        if self.draining or self.scanner.done:
            return  # the body is complete: Pushpin's side no longer matters
        end = BodyEnd.UPSTREAM_FAILED if self.upstream.lost else BodyEnd.UPSTREAM_CLOSED
        self.stop(end, detail)

    def stop(self, end: BodyEnd, detail: str) -> None:
        if self.outcome is not None:
            return
        self.outcome = (end, detail)
        self.draining = False
        self.upstream.pause()
        self.client.pause()
        if not self.done.done():
            self.done.set_result(None)

    def abort(self) -> None:
        self.stop(BodyEnd.CLIENT_GONE, "cancelled")
        for side in (self.upstream, self.client):
            side.transport.abort()

    def result(self) -> RelayResult:
        end, detail = self.outcome or (BodyEnd.CLIENT_GONE, "cancelled")
        return RelayResult(
            end=end,
            body_bytes=self.sent,
            payload_bytes=self.scanner.payload_bytes,
            trailing=self.trailing,
            client_data=self.client_data,
            detail=detail,
        )


async def relay_chunked(
    upstream: anyio.abc.ByteStream,
    client: anyio.abc.ByteStream,
    pending: bytes = b"",
    *,
    dechunk: bool = False,
) -> RelayResult:
    """Copy a chunked response body from ``upstream`` to ``client`` until it ends (see
    :func:`compute_emu.upstream.relay.relay_chunked`); both streams must be ones this module
    :func:`takes`."""
    relay = _BodyRelay(upstream, client, dechunk)
    try:
        relay.start(pending)
        await asyncio.shield(relay.done)
    except BaseException:
        relay.abort()
        raise
    finally:
        relay.upstream.restore()
        relay.client.restore()
    return relay.result()
