"""Edge rate limiting (mirrors ``fastly::erl``): ``RateCounter``, ``Penaltybox`` and ``ERL``.

The counters are real and in memory, shared by every request of one ``compute-emu serve`` run
(Viceroy's are stubs that never count), so an app sees its limit trip locally. Rates are
events per second over a sliding window (100 ms steps); see ``compute_emu.platform.erl``.

Differences from Rust: TTLs take ``datetime.timedelta`` or seconds; windows and durations take
the enum or its number of seconds; errors are raised (``ERLError.InvalidArgument`` for a TTL
outside 1 to 60 minutes, an unknown window or a negative delta), not returned.
"""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from typing import TYPE_CHECKING, ClassVar

from ..platform.erl import ErlArgumentError
from ._variants import VariantError, add_variants, platform

if TYPE_CHECKING:
    from ..platform.erl import RateLimits


class RateWindow(Enum):
    """The window of ``RateCounter.lookup_rate`` and ``ERL.check_rate`` (seconds)."""

    OneSec = 1
    TenSecs = 10
    SixtySecs = 60


class CounterDuration(Enum):
    """The duration of ``RateCounter.lookup_count`` (seconds)."""

    TenSec = 10
    TwentySecs = 20
    ThirtySecs = 30
    FortySecs = 40
    FiftySecs = 50
    SixtySecs = 60


class ERLError(VariantError):
    """An ERL operation failed (Rust ``erl::ERLError``)."""

    Unexpected: ClassVar[type[ERLError]]
    Unknown: ClassVar[type[ERLError]]
    InvalidArgument: ClassVar[type[ERLError]]


add_variants(
    ERLError,
    {
        "Unexpected": "Unexpected ERL error.",
        "Unknown": "Unknown ERL error.",
        "InvalidArgument": "An argument is out of range (TTL, window, duration or delta).",
    },
)


def _limits(what: str) -> RateLimits:
    return platform(what).erl


def _seconds(value: timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _value(value: Enum | int) -> int:
    return int(value.value) if isinstance(value, Enum) else value


class _Named:
    def __init__(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"the name must be str, not {type(name).__name__}")
        self._name = name

    @classmethod
    def open(cls, name: str) -> _Named:
        """The counter or box called ``name`` (created on first use, as on Fastly)."""
        return cls(name)

    def name(self) -> str:
        """The name it was opened with."""
        return self._name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r})"


class RateCounter(_Named):
    """A named rate counter, standalone or inside an ``ERL``."""

    @classmethod
    def open(cls, name: str) -> RateCounter:
        """The rate counter called ``name``."""
        return cls(name)

    def increment(self, entry: str, delta: int) -> None:
        """Add ``delta`` events for ``entry``."""
        try:
            _limits("RateCounter.increment()").increment(self._name, entry, delta)
        except ErlArgumentError as exc:
            raise ERLError.InvalidArgument(str(exc)) from None

    def lookup_rate(self, entry: str, window: RateWindow | int) -> int:
        """Events per second for ``entry`` over ``window``."""
        try:
            return _limits("RateCounter.lookup_rate()").rate(self._name, entry, _value(window))
        except ErlArgumentError as exc:
            raise ERLError.InvalidArgument(str(exc)) from None

    def lookup_count(self, entry: str, duration: CounterDuration | int) -> int:
        """Events for ``entry`` over the last ``duration``."""
        try:
            limits = _limits("RateCounter.lookup_count()")
            return limits.count(self._name, entry, _value(duration))
        except ErlArgumentError as exc:
            raise ERLError.InvalidArgument(str(exc)) from None


class Penaltybox(_Named):
    """A named set of entries that each stay for a TTL."""

    @classmethod
    def open(cls, name: str) -> Penaltybox:
        """The penalty box called ``name``."""
        return cls(name)

    def add(self, entry: str, ttl: timedelta | float) -> None:
        """Put ``entry`` in the box for ``ttl`` (truncated to whole minutes, 1 to 60)."""
        try:
            _limits("Penaltybox.add()").penalize(self._name, entry, _seconds(ttl))
        except ErlArgumentError as exc:
            raise ERLError.InvalidArgument(str(exc)) from None

    def has(self, entry: str) -> bool:
        """Whether ``entry`` is in the box now."""
        return _limits("Penaltybox.has()").in_box(self._name, entry)


class ERL:
    """An edge rate limiter: a rate counter and the penalty box its offenders go to."""

    def __init__(self, ratecounter: RateCounter, penaltybox: Penaltybox) -> None:
        self._counter = ratecounter
        self._box = penaltybox

    @classmethod
    def open(cls, ratecounter: RateCounter, penaltybox: Penaltybox) -> ERL:
        """A limiter over ``ratecounter`` and ``penaltybox``."""
        return cls(ratecounter, penaltybox)

    def check_rate(
        self,
        entry: str,
        delta: int,
        window: RateWindow | int,
        limit: int,
        ttl: timedelta | float,
    ) -> bool:
        """Count ``delta`` events for ``entry``; True if it is over ``limit`` events per second
        over ``window`` (it is then in the penalty box for ``ttl``) or already in the box."""
        try:
            return _limits("ERL.check_rate()").check_rate(
                self._counter.name(),
                self._box.name(),
                entry,
                delta,
                _value(window),
                limit,
                _seconds(ttl),
            )
        except ErlArgumentError as exc:
            raise ERLError.InvalidArgument(str(exc)) from None

    def __repr__(self) -> str:
        return f"ERL({self._counter!r}, {self._box!r})"


__all__ = ["ERL", "CounterDuration", "ERLError", "Penaltybox", "RateCounter", "RateWindow"]
