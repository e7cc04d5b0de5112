"""os.environ as an app instance sees it: layers per thread, the process untouched."""

from __future__ import annotations

import os
import threading

from compute_emu.runtime import environ


def test_a_layer_is_seen_only_inside_its_block_and_thread() -> None:
    environ.install()
    seen: dict[str, str | None] = {}

    def other_thread() -> None:
        seen["other"] = os.environ.get("COMPUTE_EMU_TEST_VAR")

    with environ.bound({"COMPUTE_EMU_TEST_VAR": "layer", "PATH": "shadowed"}):
        assert os.environ["COMPUTE_EMU_TEST_VAR"] == "layer"
        assert os.getenv("PATH") == "shadowed"
        assert "COMPUTE_EMU_TEST_VAR" in os.environ
        assert os.environ.copy()["COMPUTE_EMU_TEST_VAR"] == "layer"
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert seen["other"] is None
    assert "COMPUTE_EMU_TEST_VAR" not in os.environ
    assert os.environ.get("PATH") != "shadowed"


def test_writes_and_deletes_stay_in_the_layer() -> None:
    with environ.bound({"FASTLY_POP": "XXX"}):
        os.environ["COMPUTE_EMU_WRITTEN"] = "1"
        del os.environ["FASTLY_POP"]
        assert "FASTLY_POP" not in os.environ
        assert os.environ.get("FASTLY_POP") is None
        assert "FASTLY_POP" not in dict(os.environ)
        assert os.environ["COMPUTE_EMU_WRITTEN"] == "1"
    assert "COMPUTE_EMU_WRITTEN" not in os.environ
    with environ.bound({"FASTLY_POP": "XXX"}):
        assert os.environ["FASTLY_POP"] == "XXX"  # a fresh layer each time


def test_first_layer_wins_and_unbound_writes_reach_the_process() -> None:
    with environ.bound({"A_LAYERED": "first"}, {"A_LAYERED": "second", "B_LAYERED": "b"}):
        assert os.environ["A_LAYERED"] == "first"
        assert os.environ["B_LAYERED"] == "b"
    os.environ["COMPUTE_EMU_PROCESS_VAR"] = "yes"
    try:
        assert os.environ.base["COMPUTE_EMU_PROCESS_VAR"] == "yes"  # type: ignore[attr-defined]
    finally:
        del os.environ["COMPUTE_EMU_PROCESS_VAR"]


def test_process_fastly_variables_set_later_are_hidden_too() -> None:
    """The hidden FASTLY_* names are read once, and a write through os.environ outside a
    layer (a test setting FASTLY_X, say) refreshes them."""
    environ.install()
    with environ.bound({"A": "1"}):
        assert "FASTLY_LATE_TEST" not in os.environ
    os.environ["FASTLY_LATE_TEST"] = "shell"
    try:
        with environ.bound({"A": "1"}):
            assert "FASTLY_LATE_TEST" not in os.environ
        with environ.bound({"FASTLY_LATE_TEST": "guest"}):
            assert os.environ["FASTLY_LATE_TEST"] == "guest"
        assert os.environ["FASTLY_LATE_TEST"] == "shell"
    finally:
        del os.environ["FASTLY_LATE_TEST"]
    with environ.bound({}):
        assert "FASTLY_LATE_TEST" not in os.environ
