"""Starters are self-contained kits (``init`` copies one into a new project), so the official
SDK's fanout starter carries its own copy of the fanout-forward example origin: the two must
stay the same file."""

from __future__ import annotations

import pytest

from compute_emu.starters import CHECKOUT_STARTERS


@pytest.mark.parametrize("name", ["app.py", "requirements.txt"])
def test_the_official_fanout_starter_origin_is_the_fanout_forward_one(name: str) -> None:
    ours = CHECKOUT_STARTERS / "fanout-forward-official" / "origin" / name
    theirs = CHECKOUT_STARTERS / "fanout-forward" / "origin" / name
    assert ours.read_bytes() == theirs.read_bytes(), f"update {ours} from {theirs}"
