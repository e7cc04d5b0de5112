"""The minimum data rate rule (rules/data_rate.py): table tests, time given as numbers."""

from __future__ import annotations

import pytest

from compute_emu.rules.data_rate import DataRate, MinDataRate

KESTREL = MinDataRate(240, 5.0)

# (waits as (bytes, seconds waited), then: too slow?, what the next wait may last)
CASES = {
    "nothing yet: the grace period": ([], False, 5.0),
    "a byte a second for 5 s": ([(1, 1.0)] * 5, True, 0.0),
    "a byte a second for 4 s": ([(1, 1.0)] * 4, False, 1.0),
    "1,200 bytes in 5 s: exactly the minimum": ([(240, 1.0)] * 5, False, 0.0),
    "1,199 bytes in 5 s": ([(240, 1.0)] * 4 + [(239, 1.0)], True, 0.0),
    "a burst buys time: 24,000 bytes at once": ([(24_000, 0.01)], False, 99.99),
    "the burst's time spent": ([(24_000, 0.01), (0, 99.99)], False, 0.0),
    "the burst's time overspent": ([(24_000, 0.01), (0, 100.0)], True, 0.0),
    "fast, then stalls past the allowance": ([(2400, 1.0), (0, 9.5)], True, 0.0),
    "a timed-out wait counts its time": ([(0, 5.0)], True, 0.0),
    "buffered reads cost no time": ([(100, 0.0)] * 10, False, 5.0),
}


@pytest.mark.parametrize("waits,too_slow,next_wait", CASES.values(), ids=list(CASES))
def test_the_rule(waits, too_slow, next_wait):
    rate = DataRate(KESTREL)
    for transferred, waited in waits:
        rate.record(transferred, waited)
    assert rate.too_slow() is too_slow
    assert rate.wait_limit() == pytest.approx(next_wait)


def test_no_minimum_never_limits():
    rate = DataRate(MinDataRate(0))
    rate.record(0, 1e6)
    assert rate.wait_limit() is None and not rate.too_slow()


def test_the_grace_period_and_the_description():
    rate = DataRate(KESTREL)
    rate.record(3, 2.0)
    assert not rate.too_slow() and rate.wait_limit() == 3.0
    rate.record(2, 3.0)
    assert rate.too_slow()
    assert rate.describe() == (
        "1.0 bytes/s over 5.0 s of waiting, below the minimum of 240 bytes/s"
    )
