"""Fanout end to end: a real Pushpin, a real GRIP origin (gripcontrol), real clients."""

from __future__ import annotations

import asyncio
import json
import queue
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import forward_fanout
from tests.fanout_support import FORWARD_APP, LineReader, publish_until, start_fanout
from tests.support.processes import python_module
from tests.support.sdk_hosts import BOTH

SDK_HOSTS = BOTH  # each test also runs on the SDK's Wasm host (tests/support/sdk_hosts.py)


@pytest.fixture
def fanout(shared_fanout):  # type: ignore[no-untyped-def]
    """This module's tests share one compute-emu with Pushpin (tests/conftest.py); those that
    stop it or count its connections start their own (forward_fanout)."""
    return shared_fanout


def line_arrives(reader: LineReader, text: str, wait: float = 0.5):
    def check() -> bool:
        try:
            reader.wait_for(text, timeout=wait)
            return True
        except queue.Empty:
            return False

    return check


def test_handoff_reaches_origin_with_a_valid_grip_sig(fanout):
    r = httpx.get(f"{fanout.url}/info?x=1")
    assert r.status_code == 200
    info = r.json()
    assert info["grip_sig"] == "valid"
    assert info["path"] == "/info?x=1"
    assert info["host"] == f"127.0.0.1:{fanout.proxy_port}"  # Viceroy's Host rule
    fanout.served.child.wait_for(r"GET /info\?x=1 200 .*\[fanout→origin\]")


def test_http_stream_receives_publishes(fanout):
    reader = LineReader(f"{fanout.url}/stream")
    try:
        assert reader.next_line() == "stream open"
        assert reader.status == 200
        item = {"channel": "test", "formats": {"http-stream": {"content": "hello\n"}}}
        publish_until(fanout, item, line_arrives(reader, "hello"))
        fanout.publish({"channel": "test", "formats": {"http-stream": {"content": "second\n"}}})
        assert reader.wait_for("second") == "second"
        fanout.publish({"channel": "test", "formats": {"http-stream": {"action": "close"}}})
        assert reader.done.wait(10), "the stream did not end on a close action"
    finally:
        reader.close()


def test_sse_through_a_backend_path_prefix(fanout):
    reader = LineReader(f"{fanout.url}/events", headers={"x-backend": "prefixed"})
    try:
        assert reader.wait_for("event: open") == "event: open"
        assert reader.headers is not None
        assert reader.headers["content-type"] == "text/event-stream"
        item = {"channel": "test", "formats": {"http-stream": {"content": "data: tick\n\n"}}}
        publish_until(fanout, item, line_arrives(reader, "data: tick"))
    finally:
        reader.close()
    info = httpx.get(f"{fanout.url}/info", headers={"x-backend": "prefixed"}).json()
    assert info["path"] == "/realtime/info"


def test_long_poll_answered_by_a_publish(fanout):
    result: queue.Queue[httpx.Response] = queue.Queue()
    import threading

    threading.Thread(
        target=lambda: result.put(httpx.get(f"{fanout.url}/poll", timeout=30)), daemon=True
    ).start()
    item = {
        "channel": "test",
        "formats": {
            "http-response": {"code": 202, "headers": {"X-Pub": "1"}, "body": "published body\n"}
        },
    }
    deadline = time.monotonic() + 10
    while True:
        fanout.publish(item)
        try:
            response = result.get(timeout=0.5)
            break
        except queue.Empty:
            assert time.monotonic() < deadline
    assert response.status_code == 202
    assert response.headers["x-pub"] == "1"
    assert response.text == "published body\n"


def test_long_poll_times_out_with_the_origin_body(fanout):
    started = time.monotonic()
    r = httpx.get(f"{fanout.url}/poll", timeout=30)
    assert (r.status_code, r.text) == (200, "timeout\n")
    assert time.monotonic() - started >= 4


def test_websocket_over_http(fanout):
    async def scenario() -> None:
        async with connect(f"ws://{fanout.url.removeprefix('http://')}/ws") as ws:
            await ws.send("hi")
            assert await asyncio.wait_for(ws.recv(), 10) == "echo: hi"
            item = {"channel": "test", "formats": {"ws-message": {"content": "published!"}}}
            for _ in range(20):
                await asyncio.to_thread(fanout.publish, item)
                try:
                    assert await asyncio.wait_for(ws.recv(), 0.5) == "published!"
                    break
                except TimeoutError:
                    continue
            else:
                raise AssertionError("ws-message never arrived")
            await asyncio.to_thread(
                fanout.publish,
                {"channel": "test", "formats": {"ws-message": {"action": "close", "code": 4001}}},
            )
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001

    asyncio.run(scenario())
    fanout.served.child.wait_for(r"GET /ws 101 .*\[fanout→origin\]")


def test_websocket_close_from_origin(fanout):
    async def scenario() -> int | None:
        async with connect(f"ws://{fanout.url.removeprefix('http://')}/ws") as ws:
            await ws.send("close please")
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None

    assert asyncio.run(scenario()) == 4000


def test_post_still_goes_through_send(fanout):
    r = httpx.post(f"{fanout.url}/info", content=b"body!")
    info = r.json()
    assert info["method"] == "POST" and info["body"] == "body!"
    assert info["grip_sig"] == "missing"  # not through Pushpin
    fanout.served.child.wait_for(r"POST /info 200 .*\[send→origin\]")


def test_two_backends_routed_by_name(make_project, serve, spawn):
    ports = []
    for _ in range(2):
        child = spawn(python_module("tests.support.grip_origin"))
        ports.append(int(child.wait_for(r"^PORT (\d+)").group(1)))
    project = make_project(
        FORWARD_APP,
        backends={
            "one": {"url": f"http://127.0.0.1:{ports[0]}/a", "override_host": "one.example"},
            "two": f"http://127.0.0.1:{ports[1]}/b",
        },
        extra="[local_server.pushpin]\nenable = true",
    )
    fanout = start_fanout(serve, project)
    one = httpx.get(f"{fanout.url}/info", headers={"x-backend": "one"}).json()
    two = httpx.get(f"{fanout.url}/info", headers={"x-backend": "two"}).json()
    assert (one["path"], one["host"]) == ("/a/info", "one.example")
    assert (two["path"], two["host"]) == ("/b/info", f"127.0.0.1:{fanout.proxy_port}")


def test_custom_signing_key_from_the_manifest(make_project, serve, spawn):
    child = spawn(python_module("tests.support.grip_origin", "my-key", "my-iss"))
    port = int(child.wait_for(r"^PORT (\d+)").group(1))
    project = make_project(
        FORWARD_APP,
        backends={"origin": f"http://127.0.0.1:{port}/"},
        extra='[local_server.pushpin]\nenable = true\nsig_iss = "my-iss"\nsig_key = "my-key"',
    )
    fanout = start_fanout(serve, project)
    assert httpx.get(f"{fanout.url}/info").json()["grip_sig"] == "valid"


def test_client_body_is_relayed_on_handoff(make_project, serve, origin):
    app = """
    from compute_emu.sdk import Request
    def main():
        req = Request.from_client()
        req.take_body_bytes()  # the app reads it; the handoff still sends the original
        req.set_header("x-added-by-app", "yes")
        req.handoff_fanout("origin")
    """
    project = make_project(
        app,
        backends={"origin": f"http://127.0.0.1:{origin}/"},
        extra="[local_server.pushpin]\nenable = true",
    )
    fanout = start_fanout(serve, project)
    info = httpx.put(f"{fanout.url}/info", content=b"original body").json()
    assert info["method"] == "PUT" and info["body"] == "original body"
    assert ["X-Added-By-App", "yes"] in [[k.title(), v] for k, v in info["headers"]]


def test_handoff_after_a_response_raises(make_project, serve, origin):
    app = """
    from compute_emu.sdk import Request, Response
    def main():
        req = Request.from_client()
        Response.from_body("first").send_to_client()
        try:
            req.handoff_fanout("origin")
        except RuntimeError as e:
            print("refused:", e)
    """
    project = make_project(
        app,
        backends={"origin": f"http://127.0.0.1:{origin}/"},
        extra="[local_server.pushpin]\nenable = true",
    )
    fanout = start_fanout(serve, project)
    assert httpx.get(fanout.url).text == "first"
    fanout.served.child.wait_for("refused: cannot hand off to fanout: a response was already sent")


def test_routes_follow_backend_changes_in_the_manifest(make_project, serve, spawn, origin):
    project = make_project(
        FORWARD_APP,
        backends={"origin": f"http://127.0.0.1:{origin}/v1"},
        extra="[local_server.pushpin]\nenable = true",
    )
    fanout = start_fanout(serve, project)
    assert httpx.get(f"{fanout.url}/info").json()["path"] == "/v1/info"
    toml = project / "fastly.toml"
    toml.write_text(toml.read_text().replace("/v1", "/v2"))
    fanout.served.child.wait_for("fastly.toml changed: backends are now origin")
    deadline = time.monotonic() + 10
    while httpx.get(f"{fanout.url}/info").json()["path"] != "/v2/info":
        assert time.monotonic() < deadline, "Pushpin did not reload its routes"
        time.sleep(0.2)


def test_listeners_are_loopback_only(fanout):
    """Pushpin opens exactly two ports, both on 127.0.0.1: the proxy and its publish API on a
    private port (compute-emu itself listens on the publish port and forwards there)."""
    from tests.support.processes import descendants

    pids = descendants(fanout.served.child.pid)
    inodes: set[str] = set()
    import os

    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                address, port = fields[1].split(":")
                listening.append((address, int(port, 16)))
    ports = sorted(p for _, p in listening)
    assert len(ports) == 2 and fanout.proxy_port in ports and fanout.publish_port not in ports
    assert all(address == "0100007F" for address, _ in listening), listening


def test_publish_is_rejected_json_errors_are_pushpins(fanout):
    r = httpx.post(f"http://127.0.0.1:{fanout.publish_port}/publish/", content=b"{nope")
    assert r.status_code == 400 and "Body is not valid JSON" in r.text


async def _cancel_other_tasks() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_ctrl_c_with_open_streams_and_websockets_leaves_nothing(make_project, serve, origin):
    import signal

    fanout = forward_fanout(make_project, serve, origin)

    reader = LineReader(f"{fanout.url}/stream")
    assert reader.next_line() == "stream open"

    async def open_ws():
        ws = await connect(f"ws://{fanout.url.removeprefix('http://')}/ws")
        await ws.send("hi")
        assert await asyncio.wait_for(ws.recv(), 10) == "echo: hi"
        return ws

    loop = asyncio.new_event_loop()
    ws = loop.run_until_complete(open_ws())
    fanout.served.child.snapshot_descendants()
    from tests.support.processes import descendants

    cmdlines = [
        Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        for pid in descendants(fanout.served.child.pid)
    ]
    conf = next(  # the runner's pushpin.conf, not zurl's run/zurl.conf
        arg
        for args in cmdlines
        for arg in args
        if arg.startswith(b"--config=") and arg.endswith(b"pushpin.conf")
    )
    instance_dir = Path(conf.decode().removeprefix("--config=")).parent
    assert (instance_dir / "routes").exists()
    assert oct(instance_dir.stat().st_mode & 0o777) == "0o700"
    try:
        assert fanout.served.child.stop(signal.SIGINT) == 0
        assert not instance_dir.exists(), "Pushpin's temporary directory was left behind"
        assert not fanout.served.child.kill_leftovers()
        assert reader.done.wait(10)
    finally:
        reader.close()
        loop.run_until_complete(ws.close())
        loop.run_until_complete(_cancel_other_tasks())
        loop.close()


WS_APP = """
from compute_emu.sdk import Request
def main():
    req = Request.from_client()
    req.handoff_websocket(req.get_header("x-backend") or "ws")
"""


def test_handoff_websocket_passes_straight_to_the_backend(make_project, serve, spawn):
    child = spawn(python_module("tests.support.ws_backend"))
    port = int(child.wait_for(r"^PORT (\d+)").group(1))
    project = make_project(
        WS_APP,
        backends={
            "ws": f"http://127.0.0.1:{port}/prefix",
            "named": {"url": f"http://127.0.0.1:{port}/", "override_host": "ws.example"},
        },
    )
    served = serve(project)  # no Pushpin needed for passthrough

    async def scenario(backend: str) -> dict[str, str]:
        address = f"ws://{served.url.removeprefix('http://')}/chat?room=1"
        async with connect(address, additional_headers={"x-backend": backend}) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), 10) == "backend: ping"
            big = "x" * 200_000
            await ws.send(big)
            assert await asyncio.wait_for(ws.recv(), 10) == "backend: " + big
            return hello

    hello = asyncio.run(scenario("ws"))
    assert hello == {"path": "/prefix/chat?room=1", "host": f"127.0.0.1:{port}"}
    assert asyncio.run(scenario("named"))["host"] == "ws.example"
    served.child.wait_for(r"GET /chat\?room=1 101 .*\[websocket→ws\]")


def test_bytes_pipelined_after_the_upgrade_reach_the_backend(make_project, serve, spawn):
    """A client that sends its first frame together with the upgrade request (trailing bytes
    read past the request head) must not lose it."""
    import base64
    import os
    import socket

    child = spawn(python_module("tests.support.ws_backend"))
    port = int(child.wait_for(r"^PORT (\d+)").group(1))
    served = serve(make_project(WS_APP, backends={"ws": f"http://127.0.0.1:{port}/"}))
    app_port = int(served.url.rsplit(":", 1)[1])
    key = base64.b64encode(os.urandom(16)).decode()
    payload = b"early"
    mask = os.urandom(4)
    frame = (
        bytes([0x81, 0x80 | len(payload)])
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )
    head = (
        f"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", app_port), timeout=10) as s:
        s.sendall(head + frame)
        data = b""
        while b"backend: early" not in data:
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
    assert data.startswith(b"HTTP/1.1 101 ")


def test_handoff_websocket_to_a_backend_that_is_down(make_project, serve):
    from tests.fanout_support import free_port

    served = serve(make_project(WS_APP, backends={"ws": f"http://127.0.0.1:{free_port()}/"}))
    r = httpx.get(
        served.url,
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
    )
    assert r.status_code == 500
    assert r.text.startswith("Error: Could not connect to handoff target: ")


def _connections_to(pid: int, port: int) -> int:
    """ESTABLISHED TCP connections from process ``pid`` to 127.0.0.1:``port``."""
    import os

    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01" and fields[9] in inodes and int(fields[2].split(":")[1], 16) == port:
            count += 1
    return count


@pytest.mark.parametrize(
    ("path", "version", "extra"),
    [
        ("/stream", "1.1", ""),
        ("/poll", "1.1", ""),
        # a client that will close (Connection: close, HTTP/1.0 as urllib sends) used to be
        # watched in h11's MUST_CLOSE state, where nothing was read: never released
        ("/stream", "1.1", "Connection: close\r\n"),
        ("/stream", "1.0", ""),
        ("/poll", "1.0", ""),
    ],
)
def test_client_leaving_a_held_request_closes_the_upstream_side(
    make_project, serve, origin, path, version, extra
):
    """Held streams (response under way) and long-polls (no response yet) alike."""
    import socket

    fanout = forward_fanout(make_project, serve, origin)
    port = int(fanout.url.rsplit(":", 1)[1])
    pid = fanout.served.child.pid
    clients = []
    for _ in range(5):
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        client.sendall(f"GET {path} HTTP/{version}\r\nHost: localhost\r\n{extra}\r\n".encode())
        if path == "/stream":
            data = b""
            while b"stream open" not in data:
                data += client.recv(4096)
        clients.append(client)
    deadline = time.monotonic() + 10
    while _connections_to(pid, fanout.proxy_port) < 5:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for client in clients:
        client.close()
    deadline = time.monotonic() + 10
    while _connections_to(pid, fanout.proxy_port) > 0:
        assert time.monotonic() < deadline, "connections to Pushpin outlived their clients"
        time.sleep(0.1)
