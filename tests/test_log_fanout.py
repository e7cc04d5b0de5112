"""A WebSocket through Fanout (real Pushpin): an open line at once, each message with
--inspect-ws, and a close line with bytes each way and the message counts."""

from __future__ import annotations

import asyncio

from websockets.asyncio.client import connect

from tests.fanout_support import FORWARD_APP, start_fanout


def test_a_websocket_through_fanout_is_logged_when_it_opens_and_each_message(
    make_project, serve, origin
):
    project = make_project(
        FORWARD_APP,
        backends={"origin": f"http://127.0.0.1:{origin}/"},
        extra="[local_server.pushpin]\nenable = true",
    )
    fanout = start_fanout(serve, project, "--inspect-ws")
    child = fanout.served.child

    async def scenario() -> None:
        async with connect(f"ws://{fanout.url.removeprefix('http://')}/ws") as ws:
            await asyncio.to_thread(
                child.wait_for, r"#\d+ GET /ws 101 open: WebSocket handed off to Pushpin \[origin\]"
            )
            await ws.send("hi")
            assert await asyncio.wait_for(ws.recv(), 10) == "echo: hi"

    asyncio.run(scenario())
    child.wait_for(r"ws ↑ text 2B 'hi'")
    child.wait_for(r"ws ↓ text 8B 'echo: hi'")
    closed = child.wait_for(r"GET /ws 101 .* closed").string
    assert "[fanout→origin]" in closed and "messages (" in closed, closed
