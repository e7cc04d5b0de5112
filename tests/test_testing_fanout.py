"""compute_emu.testing with Fanout: docs/testing.md's example, Pushpin stopped by PID, two at
once."""

from __future__ import annotations

import pytest

from compute_emu.errors import UserError
from compute_emu.testing import Emulator, MockRequest, MockResponse
from tests.fanout_support import require_pushpin
from tests.support.processes import alive

STARTER = "../starters/fanout-forward"  # from this file's directory


# --- docs/testing.md's example (with the project named: it is not this repo's)
def origin(req: MockRequest) -> MockResponse:
    # what a GRIP origin answers: hold the stream open, subscribed to channel "news"
    return MockResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Grip-Hold": "stream",
            "Grip-Channel": "news",
        }
    )


@pytest.mark.compute_emu(project=STARTER, backends={"origin": origin})
def test_events_are_pushed_to_sse_clients(compute_emu):
    events = compute_emu.stream("/events").wait_open()
    assert events.status == 200

    compute_emu.publish("news", "hello", format="sse", to=events)

    assert events.next_event().data == "hello"
    (request,) = compute_emu.mocks["origin"].requests  # through Fanout: signed
    assert request.path == "/events" and request.header("Grip-Sig")


# --- the rest
def pushpin_pids(emu: Emulator) -> set[int]:
    """Pushpin's runner and its children (condure, zurl, proxy, handler)."""
    pushpin = emu.server.pushpin
    assert pushpin is not None and pushpin.process is not None
    return {pushpin.process.pid, *pushpin._pids}


def test_two_emulators_with_pushpin_at_once_and_all_stopped_by_pid(request):
    require_pushpin()
    project = request.path.parent / STARTER
    with (
        Emulator(project, backends={"origin": origin}) as one,
        Emulator(project, backends={"origin": origin}) as two,
    ):
        assert one.publish_url != two.publish_url
        pids = pushpin_pids(one) | pushpin_pids(two)
        assert not pushpin_pids(one) & pushpin_pids(two)
        assert len(pids) >= 8 and all(alive(pid) for pid in pids)
        for emu, text in ((one, "to one"), (two, "to two")):
            events = emu.stream("/events").wait_open()
            emu.publish("news", text, format="sse", to=events)
            assert events.next_event().data == text
    assert not [pid for pid in pids if alive(pid)]


def test_pushpin_can_be_turned_off(request):
    project = request.path.parent / STARTER
    with Emulator(project, pushpin=False, backends={"origin": origin}) as emu:
        assert emu.server.pushpin is None
        with pytest.raises(RuntimeError, match="Fanout is not enabled"):
            emu.publish("news", "x")
        assert emu.get("/events").status_code == 500  # the app's handoff needs Fanout


def test_without_pushpin_the_error_says_how_to_install_it(request, monkeypatch):
    """A missing Pushpin fails (with the command), it never skips."""
    monkeypatch.setenv("PATH", str(request.path.parent / "nowhere"))
    with pytest.raises(UserError, match=r"Pushpin is needed for Fanout.*apt-get install pushpin"):
        Emulator(request.path.parent / STARTER).start()
