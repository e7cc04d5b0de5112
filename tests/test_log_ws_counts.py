"""The close line of a WebSocket handoff gives its message counts each way without
--inspect-ws (counted from frame headers as the relay passes them on): passthrough and
through Fanout (real Pushpin)."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect

from tests.fanout_support import FORWARD_APP, start_fanout
from tests.support.processes import python_module

PASSTHROUGH_APP = """
from compute_emu.sdk import Request

def main():
    Request.from_client().handoff_websocket("ws")
"""


def test_a_passthrough_websocket_close_line_counts_its_messages(make_project, serve, spawn):
    backend = spawn(python_module("tests.support.ws_backend"))
    port = int(backend.wait_for(r"^PORT (\d+)").group(1))
    project = make_project(PASSTHROUGH_APP, backends={"ws": f"http://127.0.0.1:{port}/"})
    served = serve(project)
    child = served.child

    async def scenario() -> None:
        async with connect(f"ws://{served.url.removeprefix('http://')}/chat") as ws:
            await asyncio.wait_for(ws.recv(), 10)  # the backend's hello
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), 10) == "backend: ping"
            await ws.send(b"\x00\x01binary" * 10_000)  # 80 KB: a 64-bit length, many reads
            await asyncio.wait_for(ws.recv(), 10)

    asyncio.run(scenario())
    closed = child.wait_for(r"#0 GET /chat 101 .* closed").string
    assert "5 messages (2↑ 3↓)" in closed, closed  # close frames are not messages


def test_a_websocket_through_fanout_close_line_counts_its_messages(make_project, serve, origin):
    project = make_project(
        FORWARD_APP,
        backends={"origin": f"http://127.0.0.1:{origin}/"},
        extra="[local_server.pushpin]\nenable = true",
    )
    fanout = start_fanout(serve, project)
    child = fanout.served.child

    async def scenario() -> None:
        async with connect(f"ws://{fanout.url.removeprefix('http://')}/ws") as ws:
            for text in ("one", "two", "three"):
                await ws.send(text)
                assert await asyncio.wait_for(ws.recv(), 10) == "echo: " + text

    asyncio.run(scenario())
    closed = child.wait_for(r"GET /ws 101 .* closed").string
    assert "6 messages (3↑ 3↓)" in closed, closed
