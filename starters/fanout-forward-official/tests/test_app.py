"""Tests of the app, run with `pytest` from the project directory.

They need a Python 3.12+ environment with compute-emu, fastly-compute and pytest, and Pushpin
on PATH (see README.md). compute_emu.testing serves main.py natively and starts Pushpin in the
test's process on free ports; the origin is mocked by ``origin()`` below (a real HTTP server on
127.0.0.1 that calls it), so origin/app.py does not need to run. See compute-emu's README,
"Testing your app".
"""

import pytest

from compute_emu.testing import MockRequest, MockResponse


def origin(req: MockRequest) -> MockResponse:
    """Stands in for the backend "origin"."""
    if req.method == "GET" and req.path == "/events":
        # GRIP: Fanout holds the client's connection open, subscribed to channel "news"
        return MockResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Grip-Hold": "stream",
                "Grip-Channel": "news",
            }
        )
    if req.method == "POST":
        return MockResponse(201, {"Content-Type": "text/plain"}, f"origin got {req.text}")
    return MockResponse(404, body="not found\n")


# every test of this file: this project (the nearest fastly.toml), "origin" mocked
pytestmark = pytest.mark.compute_emu(backends={"origin": origin})


def test_sse_through_fanout(compute_emu):
    events = compute_emu.stream("/events").wait_open()
    assert events.status == 200
    assert events.header("Content-Type") == "text/event-stream"

    compute_emu.publish("news", "hello", format="sse", to=events)

    assert events.next_event().data == "hello"
    # the request reached the origin through Fanout (redirect_to_grip_proxy), which signs it
    (request,) = compute_emu.mocks["origin"].requests
    assert request.header("Grip-Sig")


def test_other_methods_are_sent_to_the_origin(compute_emu):
    response = compute_emu.post("/anything", content=b"data")

    assert response.status_code == 201
    assert response.text == "origin got data"
    entry = compute_emu.log_of(response)  # the request log line, and what HttpIncoming printed
    assert entry.notes[0].startswith("send→origin")
    assert entry.output == ["FASTLY_SERVICE_VERSION: 0"]
