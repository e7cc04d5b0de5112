"""The minimum data rate of a transfer the server waits on (sans-I/O; the caller keeps time).

A client that drips its request body (or takes a response) a byte at a time holds what serves
it (an app thread, a connection, buffered memory) for as long as it likes: a timeout between
reads bounds a stall, not a transfer. The rule of Kestrel's minimum data rates
(``MinRequestBodyDataRate``/``MinResponseDataRate``: 240 bytes/s after a 5 s grace period)
and of Apache's ``RequestReadTimeout body=…,MinRate=…``: counting only the time the server
spends **waiting for the client** (not the time the app takes between reads), once that time is
past the grace period the bytes transferred must average at least the minimum rate.

Put the other way round (mod_reqtimeout's reading), the transfer may wait at most
``max(grace, transferred / rate)`` seconds in total: every ``rate`` bytes buy one more second.
:meth:`DataRate.wait_limit` is what is left of that for the next wait, so the I/O layer bounds
each wait with one timer and never checks a clock in between.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MIN_RATE = 240.0  # bytes per second (Kestrel's default)
DEFAULT_GRACE = 5.0  # seconds of waiting before the rate counts (Kestrel's default)


@dataclass(frozen=True, slots=True)
class MinDataRate:
    """At least ``bytes_per_second`` once ``grace`` seconds were spent waiting; 0: no minimum."""

    bytes_per_second: float = DEFAULT_MIN_RATE
    grace: float = DEFAULT_GRACE

    @property
    def enabled(self) -> bool:
        return self.bytes_per_second > 0


class DataRate:
    """One transfer's account: bytes moved and seconds spent waiting for the client."""

    __slots__ = ("minimum", "transferred", "waited")

    def __init__(self, minimum: MinDataRate) -> None:
        self.minimum = minimum
        self.transferred = 0
        self.waited = 0.0

    def wait_limit(self) -> float | None:
        """The most the next wait for the client may last (seconds, at least 0); None without
        a minimum."""
        minimum = self.minimum
        if not minimum.enabled:
            return None
        allowed = max(minimum.grace, self.transferred / minimum.bytes_per_second)
        return max(allowed - self.waited, 0.0)

    def record(self, transferred: int, waited: float) -> None:
        """A wait of ``waited`` seconds ended with ``transferred`` bytes (0 if it timed out)."""
        self.transferred += transferred
        self.waited += waited

    def too_slow(self) -> bool:
        """True once the waiting is past the grace period and the bytes fall short of the
        minimum rate over it."""
        minimum = self.minimum
        if not minimum.enabled or self.waited < minimum.grace:
            return False
        return self.transferred < minimum.bytes_per_second * self.waited

    def rate(self) -> float:
        """Bytes per second of waiting so far (0 before any wait)."""
        return self.transferred / self.waited if self.waited > 0 else 0.0

    def describe(self) -> str:
        """``"arrived at 1.0 bytes/s over 5.0 s, below the minimum of 240 bytes/s"``."""
        return (
            f"{self.rate():.1f} bytes/s over {self.waited:.1f} s of waiting, below the minimum "
            f"of {self.minimum.bytes_per_second:g} bytes/s"
        )
