"""Edge rate limiting state: rate counters and penalty boxes, in memory, for one server.

Viceroy's ERL hostcalls are stubs (every rate is 0, nothing is ever penalised). Here the
counters are real, so an app sees its limit trip locally. Shared by every request of a serve
run and safe from any thread (apps run on worker threads). Time comes from ``clock`` (a
monotonic clock in seconds), which tests replace to move time on without sleeping.

Semantics (Fastly's documented ones, approximated): a rate counter keeps, per entry, the
deltas of the last 60 s in 100 ms buckets; ``rate(window)`` is the sum over the last
``window`` seconds divided by ``window`` (events per second, rounded down) and
``count(duration)`` the sum over the last ``duration`` seconds. A penalty box keeps an entry
until its TTL (whole minutes, 1 to 60) has passed. ``check_rate`` answers True at once for an
entry in the penalty box; otherwise it increments, and if the rate is then over the limit it
puts the entry in the box and answers True.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from ..sdk._erl_rules import (
    COUNT_DURATIONS,
    RATE_WINDOWS,
    ErlArgumentError,
    check_delta,
    check_duration,
    check_window,
    penalty_ttl,
)

BUCKET = 0.1  # seconds per bucket
HORIZON = 60  # seconds of history kept (the longest window and duration)
__all__ = ["COUNT_DURATIONS", "RATE_WINDOWS", "ErlArgumentError", "RateLimits", "penalty_ttl"]

MAX_ENTRIES = 100_000  # per counter or box; the oldest entry goes first beyond this


class _Counter:
    """One rate counter: entry -> deque of [bucket index, sum of deltas]."""

    def __init__(self) -> None:
        self.entries: dict[str, deque[list[int]]] = {}

    def add(self, entry: str, bucket: int, delta: int) -> None:
        buckets = self.entries.get(entry)
        if buckets is None:
            if len(self.entries) >= MAX_ENTRIES:
                del self.entries[next(iter(self.entries))]
            buckets = self.entries[entry] = deque()
        if buckets and buckets[-1][0] == bucket:
            buckets[-1][1] += delta
        else:
            buckets.append([bucket, delta])
        self._prune(buckets, bucket)

    def total(self, entry: str, bucket: int, seconds: int) -> int:
        buckets = self.entries.get(entry)
        if not buckets:
            return 0
        self._prune(buckets, bucket)
        first = bucket - round(seconds / BUCKET) + 1
        return sum(n for index, n in buckets if index >= first)

    @staticmethod
    def _prune(buckets: deque[list[int]], bucket: int) -> None:
        oldest = bucket - round(HORIZON / BUCKET) + 1
        while buckets and buckets[0][0] < oldest:
            buckets.popleft()


class RateLimits:
    """Every rate counter and penalty box of one server, by name."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._counters: dict[str, _Counter] = {}
        self._boxes: dict[str, dict[str, float]] = {}  # name -> entry -> expiry time

    def _bucket(self) -> int:
        return math.floor(self.clock() / BUCKET)

    def _counter(self, name: str) -> _Counter:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = _Counter()
        return counter

    # -- rate counters -------------------------------------------------------------------
    def increment(self, counter: str, entry: str, delta: int) -> None:
        """Add ``delta`` events for ``entry`` now."""
        check_delta(delta)
        with self._lock:
            self._counter(counter).add(entry, self._bucket(), delta)

    def rate(self, counter: str, entry: str, window: int) -> int:
        """Events per second over the last ``window`` seconds (1, 10 or 60)."""
        check_window(window)
        with self._lock:
            return self._counter(counter).total(entry, self._bucket(), window) // window

    def count(self, counter: str, entry: str, duration: int) -> int:
        """Events over the last ``duration`` seconds (10, 20, ..., 60)."""
        check_duration(duration)
        with self._lock:
            return self._counter(counter).total(entry, self._bucket(), duration)

    # -- penalty boxes -------------------------------------------------------------------
    def penalize(self, box: str, entry: str, ttl_seconds: float) -> None:
        """Put ``entry`` in the penalty box for ``ttl_seconds`` (see :func:`penalty_ttl`)."""
        ttl = penalty_ttl(ttl_seconds)
        with self._lock:
            self._add_to_box(box, entry, ttl)

    def _add_to_box(self, box: str, entry: str, ttl: int) -> None:
        entries = self._boxes.setdefault(box, {})
        if entry not in entries and len(entries) >= MAX_ENTRIES:
            del entries[min(entries, key=entries.__getitem__)]  # the one expiring first
        entries[entry] = self.clock() + ttl

    def in_box(self, box: str, entry: str) -> bool:
        """Whether ``entry`` is in the penalty box now."""
        with self._lock:
            return self._in_box(box, entry)

    def _in_box(self, box: str, entry: str) -> bool:
        entries = self._boxes.get(box)
        expiry = entries.get(entry) if entries else None
        if expiry is None:
            return False
        if self.clock() >= expiry:
            del entries[entry]  # type: ignore[union-attr]
            return False
        return True

    # -- the edge rate limiter -----------------------------------------------------------
    def check_rate(
        self,
        counter: str,
        box: str,
        entry: str,
        delta: int,
        window: int,
        limit: int,
        ttl_seconds: float,
    ) -> bool:
        """Count ``delta`` events; True (blocked) if ``entry`` is, or now goes, in the box."""
        check_delta(delta)
        check_window(window)
        ttl = penalty_ttl(ttl_seconds)
        with self._lock:
            if self._in_box(box, entry):
                return True
            rates = self._counter(counter)
            bucket = self._bucket()
            rates.add(entry, bucket, delta)
            if rates.total(entry, bucket, window) // window > limit:
                self._add_to_box(box, entry, ttl)
                return True
            return False
