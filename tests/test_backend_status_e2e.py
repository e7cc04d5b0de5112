"""A backend whose status line is not an HTTP status (``000``, ``099``, an unassigned 1xx,
``600``) followed by a response of its choosing: nothing of it reaches the client (before,
the ``000`` was skipped as a 1xx and ``200 INJECTED`` was served). Through a
WebSocket-passthrough handoff compute-emu answers 502, saying why (to the client and in
the log); through ``send()`` the app
gets a SendError (HttpProtocolError), which names the status in the log when uncaught."""

from __future__ import annotations

import httpx
import pytest

from tests import test_upstream_e2e
from tests.test_upstream_e2e import FORWARD_APP

scripted = test_upstream_e2e.scripted  # the raw-socket backend fixture

INJECTED = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Injected: 1\r\n\r\nINJECTED"
HANDOFF_APP = """
from compute_emu.sdk import Request

def main():
    Request.from_client().handoff_websocket("origin")
"""


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (b"000 Zero", "status 000 is not an HTTP status"),
        (b"099 Almost", "status 099 is not an HTTP status"),
        (b"150 Unassigned", "status 150 is not an informational status"),
        (b"600 Beyond", "status 600 is not a final HTTP status"),
    ],
)
def test_a_status_that_is_not_one_never_lets_the_next_response_through(
    make_project, serve, scripted, status: bytes, reason: str
) -> None:
    backend = scripted(lambda n: b"HTTP/1.1 %s\r\n\r\n%s" % (status, INJECTED))
    url = f"http://127.0.0.1:{backend.port}"

    served = serve(make_project(HANDOFF_APP, backends={"origin": url}, name="handoff"))
    r = httpx.get(f"{served.url}/x")
    assert (r.status_code, "x-injected" in r.headers) == (502, False), r.text
    assert reason in r.text and "INJECTED" not in r.text
    served.child.wait_for(r"GET /x 502 ")
    served.child.wait_for(f"websocket handoff to backend origin .*{reason}", stream="stderr")

    served = serve(make_project(FORWARD_APP, backends={"origin": url}, name="send"))
    r = httpx.get(f"{served.url}/x")
    assert (r.status_code, "x-injected" in r.headers) == (500, False), r.text  # uncaught
    assert "INJECTED" not in r.text
    served.child.wait_for(reason, stream="stderr")
