"""The arguments Fastly's edge rate limiter accepts: pure rules, standard library only.

The SDK checks what an app passes with these before it asks its host, so every host refuses
the same arguments with the same words; the local rate limiter (``compute_emu.platform.erl``)
applies the same rules to what reaches it.
"""

from __future__ import annotations

import math

RATE_WINDOWS = (1, 10, 60)  # seconds a rate is measured over
COUNT_DURATIONS = (10, 20, 30, 40, 50, 60)  # seconds a count is summed over


class ErlArgumentError(ValueError):
    """An argument Fastly rejects (the SDK raises ``ERLError.InvalidArgument``)."""


def penalty_ttl(seconds: float) -> int:
    """The TTL a penalty box applies: truncated to whole minutes, 1 to 60 minutes."""
    minutes = math.floor(seconds / 60)
    if not 1 <= minutes <= 60:
        raise ErlArgumentError(f"a penalty box TTL must be 1 to 60 minutes, not {seconds:g} s")
    return minutes * 60


def check_window(window: int) -> int:
    """A rate window: 1, 10 or 60 seconds."""
    if window not in RATE_WINDOWS:
        raise ErlArgumentError(f"a rate window is 1, 10 or 60 s, not {window!r}")
    return window


def check_duration(duration: int) -> int:
    """A count duration: 10, 20, ... 60 seconds."""
    if duration not in COUNT_DURATIONS:
        raise ErlArgumentError(f"a count duration is 10, 20, ... 60 s, not {duration!r}")
    return duration


def check_delta(delta: int) -> int:
    """A number of events: an integer from 0 to 2**32 - 1."""
    if isinstance(delta, bool) or not isinstance(delta, int) or not 0 <= delta <= 2**32 - 1:
        raise ErlArgumentError(f"a delta is an integer from 0 to 2**32 - 1, not {delta!r}")
    return delta
