"""``Emulator.websocket(path)``: a WebSocket client for tests, through Fanout (a real Pushpin
and a WebSocket-over-HTTP origin) and through a passthrough handoff (no Pushpin)."""

from __future__ import annotations

import json
import time

import pytest

from compute_emu.testing import Emulator, WebSocketClient, WebSocketClosed
from tests.fanout_support import require_pushpin
from tests.support.processes import python_module

STARTER = "../starters/fanout-forward"  # from this file's directory

PASSTHROUGH_APP = """
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    if req.get_header("upgrade"):
        req.handoff_websocket("ws")
    else:
        Response.from_body("plain").send_to_client()
"""


def received_after_publish(emu: Emulator, ws: WebSocketClient, channel: str, text: str) -> str:
    """Publish ``text`` as a ws-message until it arrives (a subscription takes a moment)."""
    deadline = time.monotonic() + 10
    while True:
        emu.publish(channel, text, format="ws-message")
        try:
            return ws.receive_text(timeout=0.5)
        except TimeoutError:
            assert time.monotonic() < deadline, "the published message never arrived"


def test_a_websocket_through_fanout_sends_receives_gets_published_messages_and_closes(
    request, origin
):
    require_pushpin()
    project = request.path.parent / STARTER
    with Emulator(project, backends={"origin": f"http://127.0.0.1:{origin}/"}) as emu:
        ws = emu.websocket("/ws")  # the GRIP origin accepts and subscribes it to "test"
        ws.send_text("hello")
        assert ws.receive_text() == "echo: hello"
        assert received_after_publish(emu, ws, "test", "pushed") == "pushed"
        ws.send_text("close please")  # the origin closes it with 4000
        with pytest.raises(WebSocketClosed) as closed:
            while True:
                ws.receive_text()
        assert closed.value.code == 4000
        ws.close()
        entry = emu.log.wait_for("GET", "/ws", 0, timeout=10)
        assert entry.status == 101


def test_a_passthrough_websocket_without_pushpin(make_project, spawn):
    child = spawn(python_module("tests.support.ws_backend"))
    port = int(child.wait_for(r"^PORT (\d+)").group(1))
    project = make_project(PASSTHROUGH_APP, backends={"ws": f"http://127.0.0.1:{port}/"})
    with Emulator(project, pushpin=False) as emu:
        with emu.websocket("/chat?room=1") as ws:
            hello = json.loads(ws.receive_text())
            assert hello["path"] == "/chat?room=1"
            ws.send_text("ping")
            assert ws.receive_text() == "backend: ping"
            ws.send_bytes(b"\x00\x01")
            assert ws.receive_text() == "backend: b'\\x00\\x01'"
        assert emu.log.wait_for("GET", "/chat?room=1", 0, timeout=10).status == 101
        assert emu.get("/").text == "plain"


def test_a_refused_websocket_raises_with_the_status(make_project):
    project = make_project(PASSTHROUGH_APP.replace('req.get_header("upgrade")', "False"))
    with (
        Emulator(project, pushpin=False) as emu,
        pytest.raises(ConnectionError, match="refused with status 200: b'plain'"),
    ):
        emu.websocket("/")
