"""The tests' own port picking: each xdist worker has a slice of its own, below the ephemeral
range (tests/support/ports.py)."""

from __future__ import annotations

from tests.support.ports import HIGH, LOW, worker_range


def test_each_of_three_workers_picks_from_its_own_slice() -> None:
    slices = [
        worker_range({"PYTEST_XDIST_WORKER": f"gw{i}", "PYTEST_XDIST_WORKER_COUNT": "3"})
        for i in range(3)
    ]
    assert [(s.start, s.stop) for s in slices] == [(20000, 24000), (24000, 28000), (28000, 32000)]
    assert not set(slices[0]) & set(slices[1]) and not set(slices[1]) & set(slices[2])
    assert all(s.start >= LOW and s.stop - 1 <= HIGH for s in slices)


def test_outside_xdist_the_whole_range() -> None:
    assert worker_range({}) == range(LOW, HIGH + 1)
    assert worker_range({"PYTEST_XDIST_WORKER": "master"}) == range(LOW, HIGH + 1)
    assert worker_range({"PYTEST_XDIST_WORKER": "gw1", "PYTEST_XDIST_WORKER_COUNT": "x"}) == (
        range(LOW, HIGH + 1)
    )
