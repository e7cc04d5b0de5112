"""The log of a real `compute-emu serve`: -v backend calls and headers, JSON lines, a
WebSocket handoff's open line (at once) and close line, and --inspect-ws messages."""

from __future__ import annotations

import asyncio
import json

import httpx
from websockets.asyncio.client import connect

from tests.support.processes import python_module

APP = """
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    if req.get_header("upgrade"):
        req.handoff_websocket("ws")
        return
    if req.get_method() == "POST":
        Response.from_body(b"echo: " + req.take_body().into_bytes()).send_to_client()
        return
    answer = Request.get("http://origin.example/hello").send("origin")
    Response.from_body(f"origin said {answer.get_status()}").send_to_client()
"""


def _project(make_project, backend_port: int, ws_port: int):  # type: ignore[no-untyped-def]
    return make_project(
        APP,
        backends={
            "origin": f"http://127.0.0.1:{backend_port}/",
            "ws": f"http://127.0.0.1:{ws_port}/",
        },
    )


def _ws_port(spawn) -> int:  # type: ignore[no-untyped-def]
    child = spawn(python_module("tests.support.ws_backend"))
    return int(child.wait_for(r"^PORT (\d+)").group(1))


def test_verbose_shows_headers_and_each_backend_call(make_project, serve, spawn, backend):
    served = serve(_project(make_project, backend.port, _ws_port(spawn)), "-v")
    answer = httpx.get(served.url + "/x", headers={"x-trace": "abc"}, timeout=10)
    assert answer.text == "origin said 200"
    child = served.child
    child.wait_for(r"(?i)#0 > x-trace: abc")  # the client's request headers
    child.wait_for(r"(?i)#0   > host: origin.example")  # what the app sent
    line = child.wait_for(r"#0 → backend origin: GET (\S+) 200 [\d.]+ms").group(1)
    assert line == f"http://127.0.0.1:{backend.port}/hello"
    child.wait_for(r"(?i)#0   < content-type: application/json")  # the backend's answer
    child.wait_for(r"#0 GET /x 200")


def test_json_lines_for_tools(make_project, serve, spawn, backend):
    project = _project(make_project, backend.port, _ws_port(spawn))
    child = spawn(
        python_module(
            "compute_emu",
            "serve",
            "-C",
            str(project),
            "--addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
        )
    )
    url = child.wait_for(r'"Listening on (http://[^"]+)"').group(1)
    httpx.get(url + "/j", timeout=10)
    line = child.wait_for(r'"event": "request"').string
    record = json.loads(line)
    assert record["method"] == "GET" and record["target"] == "/j" and record["status"] == 200
    assert record["notes"][0].startswith("send→origin") and record["duration_ms"] > 0


def test_websocket_open_line_at_once_close_line_and_inspected_messages(
    make_project, serve, spawn, backend
):
    served = serve(_project(make_project, backend.port, _ws_port(spawn)), "--inspect-ws")
    child = served.child
    address = f"ws://{served.url.removeprefix('http://')}/chat"

    async def scenario() -> None:
        async with connect(address) as ws:
            await asyncio.wait_for(ws.recv(), 10)  # the backend's hello
            # the open line is there while the WebSocket is still open
            await asyncio.to_thread(child.wait_for, r"#0 GET /chat 101 open: WebSocket handed off")
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), 10) == "backend: ping"
            await ws.send(b"\x00\x01binary")
            await asyncio.wait_for(ws.recv(), 10)

    asyncio.run(scenario())
    child.wait_for(r"#0 ws ↑ text 4B 'ping'")
    child.wait_for(r"#0 ws ↓ text 13B 'backend: ping'")
    child.wait_for(r"#0 ws ↑ binary 8B '\\x00\\x01binary'")
    child.wait_for(r"#0 ws ↑ close 1000")
    closed = child.wait_for(r"#0 GET /chat 101 .* closed").string
    assert "messages (" in closed and "↑" in closed, closed


def test_very_verbose_shows_the_first_bytes_of_bodies(make_project, serve, spawn, backend):
    served = serve(_project(make_project, backend.port, _ws_port(spawn)), "-vv")
    big = b"hello world" + b"x" * 5000
    assert httpx.post(served.url + "/p", content=big, timeout=10).content == b"echo: " + big
    line = served.child.wait_for(r"#0 > body 4\.9KB: ").string
    assert "'hello worldxxx" in line and line.endswith("…") and len(line) < 1200
    served.child.wait_for(r"#0 < body 4\.9KB: 'echo: hello world")
