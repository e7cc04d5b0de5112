"""Edge rate limiting (mirrors ``fastly::erl``): ``RateCounter``, ``Penaltybox`` and ``ERL``.

The counters are real and in memory, shared by every request of one ``compute-emu serve`` run
(Viceroy's are stubs that never count), so an app sees its limit trip locally. Rates are
events per second over a sliding window (100 ms steps); see ``compute_emu.platform.erl``.

Differences from Rust: TTLs take ``datetime.timedelta`` or seconds; windows and durations take
the enum or its number of seconds; errors are raised (``ERLError.InvalidArgument`` for a TTL
outside 1 to 60 minutes, an unknown window or a negative delta), not returned.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from enum import Enum
from typing import ClassVar, TypeVar

from ._erl_rules import ErlArgumentError, check_delta, check_duration, check_window, penalty_ttl
from ._interface import Host, HostError
from ._variants import VariantError, add_variants, host, variant_of

T = TypeVar("T")


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


_KINDS = {"invalid_argument": "InvalidArgument"}


def _call(what: str, call: Callable[[Host], T]) -> T:
    """``call(host)``, with a refused argument or a host error raised as its ``ERLError``
    variant (the arguments are checked here first, so every host refuses the same ones)."""
    runtime = host(what)
    try:
        return call(runtime)
    except ErlArgumentError as exc:
        raise ERLError.InvalidArgument(str(exc)) from None
    except HostError as exc:
        raise variant_of(ERLError, _KINDS, exc) from None


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
        _call(
            "RateCounter.increment()",
            lambda h: h.erl_increment(self._name, entry, check_delta(delta)),
        )

    def lookup_rate(self, entry: str, window: RateWindow | int) -> int:
        """Events per second for ``entry`` over ``window``."""
        return _call(
            "RateCounter.lookup_rate()",
            lambda h: h.erl_rate(self._name, entry, check_window(_value(window))),
        )

    def lookup_count(self, entry: str, duration: CounterDuration | int) -> int:
        """Events for ``entry`` over the last ``duration``."""
        return _call(
            "RateCounter.lookup_count()",
            lambda h: h.erl_count(self._name, entry, check_duration(_value(duration))),
        )


class Penaltybox(_Named):
    """A named set of entries that each stay for a TTL."""

    @classmethod
    def open(cls, name: str) -> Penaltybox:
        """The penalty box called ``name``."""
        return cls(name)

    def add(self, entry: str, ttl: timedelta | float) -> None:
        """Put ``entry`` in the box for ``ttl`` (truncated to whole minutes, 1 to 60)."""
        seconds = _seconds(ttl)

        def add(h: Host) -> None:
            penalty_ttl(seconds)
            h.penaltybox_add(self._name, entry, seconds)

        _call("Penaltybox.add()", add)

    def has(self, entry: str) -> bool:
        """Whether ``entry`` is in the box now."""
        return _call("Penaltybox.has()", lambda h: h.penaltybox_has(self._name, entry))


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
        counter, box = self._counter.name(), self._box.name()
        seconds, ttl_seconds = _value(window), _seconds(ttl)

        def check(h: Host) -> bool:
            check_delta(delta)
            check_window(seconds)
            penalty_ttl(ttl_seconds)
            return h.erl_check_rate(counter, entry, delta, seconds, limit, box, ttl_seconds)

        return _call("ERL.check_rate()", check)

    def __repr__(self) -> str:
        return f"ERL({self._counter!r}, {self._box!r})"


__all__ = ["ERL", "CounterDuration", "ERLError", "Penaltybox", "RateCounter", "RateWindow"]
