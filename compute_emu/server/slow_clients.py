"""Writing to a client within the minimum data rate, and saying when a client was too slow.

The rule itself is :mod:`compute_emu.rules.data_rate`; here it meets the socket: a write that
has to wait for the client is timed, and a client that takes less than the minimum (after the
grace period) has its connection reset. Warnings about such clients are rate-limited: a drip
attack is one log line every few seconds, not one per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct

import anyio
import anyio.abc

from ..aio.transport import WRITE_HIGH_WATER, ProtocolStream
from ..rules.data_rate import DataRate

log = logging.getLogger("compute_emu.server")
REPORT_EVERY = 10.0  # seconds between warnings about slow clients
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets


class TooSlow(Exception):
    """The client took a response slower than the minimum data rate (message: how slow)."""


class Reporter:
    """Warnings of one kind (clients refused for slowness, say), at most one per
    ``REPORT_EVERY`` seconds, with the count of those not reported since."""

    def __init__(self) -> None:
        self._last: float | None = None
        self._unreported = 0

    def report(self, message: str) -> None:
        now = anyio.current_time()
        if self._last is not None and now - self._last < REPORT_EVERY:
            self._unreported += 1
            return
        more = f" ({self._unreported} more since the last such warning)" if self._unreported else ""
        log.warning("%s%s", message, more)
        self._last, self._unreported = now, 0


slow_clients = Reporter()


def send_may_wait(stream: anyio.abc.ByteStream, size: int) -> bool:
    """Whether writing ``size`` bytes to ``stream`` may have to wait for the client to read
    (the transport's buffer would pass its high-water mark). Writes that cannot are not
    timed: the check costs a method call."""
    if not isinstance(stream, ProtocolStream) or (transport := stream.transport) is None:
        return False
    return transport.get_write_buffer_size() + size > WRITE_HIGH_WATER


async def send_within_rate(stream: anyio.abc.ByteStream, data: bytes, rate: DataRate) -> None:
    """Write ``data``, waiting for the client no longer than ``rate`` allows (``TooSlow``).

    Only writes that wait for the client count: their time, and their bytes (the client took
    about that much for the transport's buffer to drain). Bytes the kernel takes at once cost
    nothing and buy no time. Written a buffer's worth (``WRITE_HIGH_WATER``) at a time, so
    that a large body read at a good pace is credited as it goes. After ``TooSlow`` the
    stream must be reset (:func:`reset`): its wait for the client was cancelled.
    """
    loop = asyncio.get_running_loop()
    for start in range(0, len(data), WRITE_HIGH_WATER):
        piece = data if len(data) <= WRITE_HIGH_WATER else data[start : start + WRITE_HIGH_WATER]
        waited: list[bool] = []  # a callback the loop runs only if the send suspends
        marker = loop.call_soon(waited.append, True)
        started = anyio.current_time()
        with anyio.move_on_after(rate.wait_limit()) as scope:
            await stream.send(piece)
        marker.cancel()
        if scope.cancelled_caught:
            rate.record(0, anyio.current_time() - started)
            raise TooSlow(f"the client took the response at {rate.describe()}")
        if waited:
            rate.record(len(piece), anyio.current_time() - started)


def reset(stream: anyio.abc.ByteStream) -> None:
    """Close the connection at once, dropping what it has not sent: a reset, so that the
    kernel frees its send buffer too (a plain close would keep it, and the connection, until
    the client reads it all or TCP gives up, minutes later)."""
    sock = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    if isinstance(stream, ProtocolStream):
        stream.abort()
