"""Writing to a client within the minimum data rate, and saying when a client was too slow.

The rule itself is :mod:`compute_emu.rules.data_rate`; here it meets the connection: a write
that has to wait for the client is timed, and a client that takes less than the minimum
(after the grace period) has its connection reset (``Stream.reset``). Warnings about such
clients are rate-limited: a drip attack is one log line every few seconds, not one per
connection.
"""

from __future__ import annotations

import logging

import anyio

from ..aio.stream import Stream
from ..aio.transport import WRITE_HIGH_WATER
from ..rules.data_rate import DataRate

log = logging.getLogger("compute_emu.server")
REPORT_EVERY = 10.0  # seconds between warnings about slow clients


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


async def send_within_rate(stream: Stream, data: bytes, rate: DataRate) -> None:
    """Write ``data``, waiting for the client no longer than ``rate`` allows (``TooSlow``).

    Only writes that wait for the client count: their time, and their bytes (the client took
    about that much for the transport's buffer to drain). Bytes the kernel takes at once cost
    nothing and buy no time. Written a buffer's worth (``WRITE_HIGH_WATER``) at a time, so
    that a large body read at a good pace is credited as it goes. After ``TooSlow`` the
    stream must be reset (``Stream.reset``): its write is half done.
    """
    for start in range(0, len(data), WRITE_HIGH_WATER):
        piece = data if len(data) <= WRITE_HIGH_WATER else data[start : start + WRITE_HIGH_WATER]
        started = anyio.current_time()
        try:
            waited = await stream.send_within(piece, rate.wait_limit())
        except TimeoutError:
            rate.record(0, anyio.current_time() - started)
            raise TooSlow(f"the client took the response at {rate.describe()}") from None
        if waited:
            rate.record(len(piece), anyio.current_time() - started)
