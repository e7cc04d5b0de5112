"""Connection slots (rules/connection_slots.py): who gives way to a newcomer at the limit."""

from __future__ import annotations

import pytest

from compute_emu.rules.connection_slots import ConnectionSlots


def test_under_the_limit_everyone_is_admitted():
    slots: ConnectionSlots[str] = ConnectionSlots(2)
    assert slots.admit("a") == (True, None)
    assert slots.admit("b") == (True, None)
    assert len(slots) == 2


def test_at_the_limit_the_longest_waiting_gives_way():
    slots: ConnectionSlots[str] = ConnectionSlots(3)
    for name in "abc":
        slots.admit(name)
    slots.waiting("b")  # b waits for a head first, then c
    slots.waiting("c")
    assert slots.admit("d") == (True, "b")
    assert slots.admit("e") == (True, "c")
    assert len(slots) == 3
    assert slots.admit("f") == (False, None)  # a, d, e are busy: refused


def test_a_connection_that_waits_again_goes_to_the_back():
    slots: ConnectionSlots[str] = ConnectionSlots(2)
    slots.admit("a")
    slots.admit("b")
    slots.waiting("a")
    slots.waiting("b")
    slots.busy("a")  # a head arrived on a: it keeps its place
    slots.waiting("a")  # and waits again, after b
    assert slots.admit("c") == (True, "b")


def test_release_and_an_evicted_connection_coming_back():
    slots: ConnectionSlots[str] = ConnectionSlots(1)
    slots.admit("a")
    slots.waiting("a")
    assert slots.admit("b") == (True, "a")
    slots.busy("a")  # the evicted one's late head: it holds no slot any more
    slots.waiting("a")
    slots.release("a")
    assert len(slots) == 1
    slots.release("b")
    assert len(slots) == 0
    assert slots.admit("c") == (True, None)


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        ConnectionSlots(0)
