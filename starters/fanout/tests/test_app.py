"""Tests of the app, run with `pytest` from the project directory (Pushpin must be on PATH).

compute_emu.testing starts the app and Pushpin in the test's process on a free port. The
"self" backend (this app, called back by Fanout) is pointed at that port with ``SELF``; the
origin is mocked by ``origin()`` below. See compute-emu's README, "Testing your app".
"""

import pytest

from compute_emu.testing import SELF, MockRequest, MockResponse


def origin(req: MockRequest) -> MockResponse:
    """Stands in for the backend "origin" (reached through Fanout)."""
    return MockResponse(body=f"origin: {req.path}\n")


pytestmark = pytest.mark.compute_emu(backends={"self": SELF, "origin": origin})


def test_stream_is_held_by_fanout(compute_emu):
    stream = compute_emu.stream("/test/stream").wait_open()
    assert stream.header("Content-Type") == "text/plain"

    compute_emu.publish("test", "hello", to=stream)

    assert stream.next_line() == "hello"


def test_sse(compute_emu):
    events = compute_emu.stream("/test/sse").wait_open()

    compute_emu.publish("test", "hello", format="sse", to=events)

    assert events.next_event().data == "hello"


def test_other_paths_go_to_the_origin_through_fanout(compute_emu):
    response = compute_emu.get("/page")

    assert response.text == "origin: /page\n"
    (request,) = compute_emu.mocks["origin"].requests
    assert request.header("Grip-Sig")  # Fanout signed it
