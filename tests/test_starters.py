"""The starter kits end to end: compute-emu, a real Pushpin, the kit's own origin, real clients."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import json
import queue
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.conftest import Served, Spawner, server_starter
from tests.fanout_support import Fanout, LineReader, free_port, publish_until, require_pushpin
from tests.support.processes import ROOT, python_module

STARTERS = ROOT / "starters"
KEY = "viceroy_dev_signing_key_dont_use_in_production"


def copy_starter(name: str, dest: Path) -> Path:
    project = dest / name
    shutil.copytree(
        STARTERS / name, project, ignore=shutil.ignore_patterns("__pycache__", "pushpin-logs")
    )
    return project


def rewrite_manifest(project: Path, old: str, new: str) -> None:
    """Replace ``old`` where it is not followed by a digit: after ``localhost:7676`` became
    ``localhost:30001``, ``localhost:3000`` must not match a part of it."""
    manifest = project / "fastly.toml"
    text, count = re.subn(re.escape(old) + r"(?!\d)", lambda _: new, manifest.read_text())
    assert count, f"{old!r} not in {manifest}"
    manifest.write_text(text)


def serve_on(spawn: Spawner, project: Path, port: int, proxy: int, publish: int) -> Fanout:
    """`compute-emu serve` on 127.0.0.1:<port> with Pushpin on the given ports."""
    require_pushpin()
    child = spawn(
        python_module(
            "compute_emu",
            "serve",
            "-C",
            str(project),
            "--addr",
            f"127.0.0.1:{port}",
            "-v",
            "--pushpin-proxy-port",
            str(proxy),
            "--pushpin-publish-port",
            str(publish),
        )
    )
    url = child.wait_for(r"Listening on (http://\S+)").group(1)
    child.snapshot_descendants()
    return Fanout(Served(url, child), proxy, publish)


def grip_sig(key: str = KEY, iss: str = "viceroy", expires_in: int | None = 3600) -> str:
    """A Grip-Sig JWT (HS256), as Pushpin makes them."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
    fields = {"iss": iss} if expires_in is None else {"iss": iss, "exp": time.time() + expires_in}
    claims = b64(json.dumps(fields).encode())
    signature = hmac.new(key.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64(signature)}"


def line_arrives(reader: LineReader, text: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            reader.wait_for(text, timeout=0.5)
            return True
        except queue.Empty:
            return False

    return check


def ws_receives(ws: ClientConnection, text: str, timeout: float = 0.5) -> Callable[[], bool]:
    def check() -> bool:
        deadline = time.monotonic() + timeout
        try:
            while ws.recv(timeout=max(deadline - time.monotonic(), 0.01)) != text:
                pass
            return True
        except TimeoutError:
            return False

    return check


def end_stream(fanout: Fanout, channel: str, reader: LineReader) -> None:
    """Close the held stream with a publish (so the reader's thread ends at once)."""
    fanout.publish({"channel": channel, "formats": {"http-stream": {"action": "close"}}})
    assert reader.done.wait(10), "the stream did not end on a close action"


def ws_url(fanout: Fanout, path: str) -> str:
    return "ws://" + fanout.url.removeprefix("http://") + path


@dataclass
class Poll:
    """A long-poll GET in a thread."""

    url: str

    def __post_init__(self) -> None:
        self.result: queue.Queue[httpx.Response | Exception] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result.put(httpx.get(self.url, timeout=30))
        except httpx.HTTPError as exc:
            self.result.put(exc)

    def answered(self) -> bool:
        self.thread.join(0.5)
        return not self.thread.is_alive()

    def response(self) -> httpx.Response:
        result = self.result.get(timeout=1)
        assert isinstance(result, httpx.Response), result
        return result


def answer_long_poll(fanout: Fanout, url: str, channel: str = "test") -> httpx.Response:
    poll = Poll(url)
    item = {
        "channel": channel,
        "formats": {"http-response": {"code": 202, "headers": {"X-Pub": "1"}, "body": "ok\n"}},
    }
    publish_until(fanout, item, poll.answered)
    return poll.response()


# -- fanout-forward: the app hands off to the example origin ---------------------------------


@dataclass
class Forward:
    fanout: Fanout
    origin: str  # http://127.0.0.1:<port>


def start_forward(
    spawn: Spawner, serve: Callable[..., Served], tmp_path: Path, project: Path | None = None
) -> Forward:
    """The fanout-forward starter (or ``project``, a copy of it) served by compute-emu, with
    its example origin running."""
    require_pushpin()
    project = project or copy_starter("fanout-forward", tmp_path)
    proxy, publish = free_port(), free_port()
    origin = spawn(
        [
            sys.executable,
            str(project / "origin" / "app.py"),
            "--port",
            "0",
            "--publish-url",
            f"http://127.0.0.1:{publish}",
        ]
    )
    origin_port = origin.wait_for(r"^Listening on http://127\.0\.0\.1:(\d+)$").group(1)
    rewrite_manifest(project, "localhost:3000", f"localhost:{origin_port}")
    served = serve(
        project, "-v", "--pushpin-proxy-port", str(proxy), "--pushpin-publish-port", str(publish)
    )
    served.child.snapshot_descendants()
    return Forward(Fanout(served, proxy, publish), f"http://127.0.0.1:{origin_port}")


# the first wasm test builds the app and compiles it
@pytest.fixture(
    scope="module", params=["native", pytest.param("wasm", marks=pytest.mark.timeout(900))]
)
def module_forward(
    request: pytest.FixtureRequest,
    spawn_module: Spawner,
    sdk_host: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Forward:
    """The starter served natively, and built (tests/wasm_apps/sdk_main.py over it) and served
    with `serve --wasm`, each started once for this module: the same checks pass both ways."""
    root = tmp_path_factory.mktemp("forward")
    if request.param == "native":
        return start_forward(spawn_module, server_starter(spawn_module, sdk_host), root)
    from tests.wasm_support import serve_wasm

    project = request.getfixturevalue("sdk_built").copy_to(root)
    return start_forward(spawn_module, lambda *args: serve_wasm(spawn_module, *args), root, project)


@pytest.fixture
def forward(module_forward: Forward) -> Forward:
    """The fanout-forward starter with its origin, shared by this module's tests."""
    module_forward.fanout.served.child.read_from_here()
    return module_forward


def test_forward_page_and_http_stream(forward: Forward) -> None:
    fanout = forward.fanout
    page = httpx.get(fanout.url + "/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    for element in ("sse-log", "ws-log", "publish-form", "ws-input", "ws-send", "status"):
        assert f'id="{element}"' in page.text
    fanout.served.child.wait_for(r"GET / 200 .*\[fanout→origin\]")
    assert fanout.served.child.wait_for(r"FASTLY_SERVICE_VERSION: 0")

    reader = LineReader(fanout.url + "/stream")
    try:
        assert reader.next_line() == "stream open on channel test"
        assert reader.status == 200
        item = {"channel": "test", "formats": {"http-stream": {"content": "hello\n"}}}
        publish_until(fanout, item, line_arrives(reader, "hello"))
        end_stream(fanout, "test", reader)
    finally:
        reader.close()


def test_forward_sse(forward: Forward) -> None:
    fanout = forward.fanout
    reader = LineReader(fanout.url + "/events?channel=news")
    try:
        assert reader.wait_for("event: subscribed") == "event: subscribed"
        assert reader.next_line() == "data: news-sse"
        assert reader.headers is not None
        assert reader.headers["content-type"] == "text/event-stream"
        item = {"channel": "news-sse", "formats": {"http-stream": {"content": "data: tick\n\n"}}}
        publish_until(fanout, item, line_arrives(reader, "data: tick"))
        end_stream(fanout, "news-sse", reader)
    finally:
        reader.close()


def test_forward_long_poll(forward: Forward) -> None:
    response = answer_long_poll(forward.fanout, forward.fanout.url + "/poll")
    assert (response.status_code, response.text) == (202, "ok\n")
    assert response.headers["x-pub"] == "1"


def test_forward_websocket(forward: Forward) -> None:
    fanout = forward.fanout
    with connect(ws_url(fanout, "/ws?channel=chat")) as ws:
        ws.send("hi there")
        assert ws.recv(timeout=10) == "hi there"  # echoed by the origin
        item = {"channel": "chat", "formats": {"ws-message": {"content": "published!"}}}
        publish_until(fanout, item, ws_receives(ws, "published!"))
    fanout.served.child.wait_for(r"GET /ws\?channel=chat 101 .*\[fanout→origin\]")


def test_forward_publish_route_reaches_every_subscriber(forward: Forward) -> None:
    fanout = forward.fanout
    stream = LineReader(fanout.url + "/stream?channel=room")
    sse = LineReader(fanout.url + "/events?channel=room")
    try:
        assert stream.next_line() == "stream open on channel room"
        assert sse.wait_for("data: room-sse") == "data: room-sse"
        with connect(ws_url(fanout, "/ws?channel=room")) as ws:
            deadline = time.monotonic() + 10
            pending = {"stream", "sse", "ws"}
            while pending:
                assert time.monotonic() < deadline, f"never reached: {pending}"
                r = httpx.post(
                    fanout.url + "/publish", json={"channel": "room", "message": "to all"}
                )
                assert r.status_code == 200, r.text
                assert r.json() == {"published": "to all", "channels": ["room", "room-sse"]}
                if "stream" in pending and line_arrives(stream, "to all")():
                    pending.discard("stream")
                if "sse" in pending and line_arrives(sse, "data: to all")():
                    pending.discard("sse")
                if "ws" in pending and ws_receives(ws, "to all")():
                    pending.discard("ws")
            # a plain form post is published too, then redirected back to the page
            form = httpx.post(fanout.url + "/publish", data={"channel": "room", "message": "form"})
            assert form.status_code == 303
            assert form.headers["location"] == "/?channel=room"
            assert stream.wait_for("form") == "form"
            assert ws_receives(ws, "form", timeout=10)()
        end_stream(fanout, "room", stream)
        end_stream(fanout, "room-sse", sse)
    finally:
        stream.close()
        sse.close()
    # POST is not handed off: it reaches the origin through send(), with no Grip-Sig
    fanout.served.child.wait_for(r"POST /publish 200 .*\[send→origin\]")
    fanout.served.child.wait_for(r"POST /publish 303 .*\[send→origin\]")
    bad = httpx.post(fanout.url + "/publish", json={"channel": "room"})
    assert bad.status_code == 400


def test_forward_origin_checks_grip_sig(forward: Forward) -> None:
    origin = forward.origin
    for token in (
        "not-a-jwt",
        grip_sig(key="wrong"),
        grip_sig(iss="pushpin"),
        grip_sig(expires_in=-5),
    ):
        r = httpx.get(origin + "/stream", headers={"Grip-Sig": token})
        assert r.status_code == 403, token
        assert "Grip-Sig is not valid" in r.text
        assert "grip-hold" not in r.headers
    assert httpx.get(origin + "/", headers={"Grip-Sig": "bad"}).status_code == 403
    # no Grip-Sig: fine for the page, refused (with the reason) for GRIP routes
    assert httpx.get(origin + "/").status_code == 200
    direct = httpx.get(origin + "/stream")
    assert direct.status_code == 403
    assert "must be reached through Fanout" in direct.text
    # a correctly signed request gets its GRIP instructions
    signed = httpx.get(origin + "/stream?channel=x", headers={"Grip-Sig": grip_sig()})
    assert signed.status_code == 200
    assert (signed.headers["grip-hold"], signed.headers["grip-channel"]) == ("stream", "x")
    # through the app, POST goes through send() (no Grip-Sig), so the origin refuses /stream
    via_app = httpx.post(forward.fanout.url + "/stream", content=b"x")
    assert via_app.status_code == 403
    assert "must be reached through Fanout" in via_app.text
    assert httpx.head(forward.fanout.url + "/").status_code == 200  # HEAD is handed off


# -- fanout: the app is its own GRIP origin for /test/* -------------------------------------


# the first wasm test builds the starter and compiles it
@pytest.fixture(
    scope="module", params=["native", pytest.param("wasm", marks=pytest.mark.timeout(900))]
)
def module_fanout_kit(
    request: pytest.FixtureRequest,
    spawn_module: Spawner,
    tmp_path_factory: pytest.TempPathFactory,
) -> Fanout:
    """The starter served natively, and built with `compute-emu build` and served with
    `serve --wasm` (Fanout calls the component back through the `self` backend), each started
    once for this module's tests: the same checks pass both ways."""
    require_pushpin()
    directory = tmp_path_factory.mktemp(f"fanout-kit-{request.param}")
    if request.param == "native":
        project = copy_starter("fanout", directory)
    else:
        project = request.getfixturevalue("fanout_built").copy_to(directory)
    port = free_port()
    rewrite_manifest(project, "localhost:7676", f"localhost:{port}")  # the `self` backend
    rewrite_manifest(project, "localhost:3000", f"localhost:{free_port()}")  # no origin runs
    proxy, publish = free_port(), free_port()
    if request.param == "native":
        return serve_on(spawn_module, project, port, proxy, publish)
    from tests.wasm_support import serve_wasm

    pushpin = ("--pushpin-proxy-port", str(proxy), "--pushpin-publish-port", str(publish))
    served = serve_wasm(spawn_module, project, "-v", *pushpin, port=port)
    served.child.snapshot_descendants()
    return Fanout(served, proxy, publish)


@pytest.fixture
def fanout_kit(module_fanout_kit: Fanout) -> Fanout:
    """The fanout starter served (natively and under --wasm), started once for this module's
    tests."""
    module_fanout_kit.served.child.read_from_here()
    return module_fanout_kit


def test_fanout_stream(fanout_kit: Fanout) -> None:
    # A made-up Grip-Sig must not make the app answer with GRIP itself: it is handed off,
    # and Pushpin replaces it with a real one.
    reader = LineReader(fanout_kit.url + "/test/stream", headers={"Grip-Sig": grip_sig("x")})
    try:
        item = {"channel": "test", "formats": {"http-stream": {"content": "hello\n"}}}
        publish_until(fanout_kit, item, line_arrives(reader, "hello"))
        assert reader.status == 200
        assert reader.headers is not None
        assert reader.headers["content-type"] == "text/plain"
        assert "grip-hold" not in reader.headers
        end_stream(fanout_kit, "test", reader)
    finally:
        reader.close()
    fanout_kit.served.child.wait_for(r"GET /test/stream 200 .*\[fanout→self\]")


def test_fanout_sse(fanout_kit: Fanout) -> None:
    reader = LineReader(fanout_kit.url + "/test/sse")
    try:
        item = {"channel": "test", "formats": {"http-stream": {"content": "data: tick\n\n"}}}
        publish_until(fanout_kit, item, line_arrives(reader, "data: tick"))
        assert reader.headers is not None
        assert reader.headers["content-type"] == "text/event-stream"
        end_stream(fanout_kit, "test", reader)
    finally:
        reader.close()


def test_fanout_long_poll(fanout_kit: Fanout) -> None:
    response = answer_long_poll(fanout_kit, fanout_kit.url + "/test/long-poll")
    assert (response.status_code, response.text) == (202, "ok\n")


def test_fanout_websocket(fanout_kit: Fanout) -> None:
    with connect(ws_url(fanout_kit, "/test/websocket")) as ws:
        ws.send("hi")
        assert ws.recv(timeout=10) == "hi"
        ws.send(b"\x00\xff")
        assert ws.recv(timeout=10) == b"\x00\xff"
        item = {"channel": "test", "formats": {"ws-message": {"content": "published!"}}}
        publish_until(fanout_kit, item, ws_receives(ws, "published!"))
    fanout_kit.served.child.wait_for(r"GET /test/websocket 101 .*\[fanout→self\]")


def test_fanout_other_requests_go_through_fanout_to_origin(fanout_kit: Fanout) -> None:
    r = httpx.get(fanout_kit.url + "/hello")
    assert r.status_code == 502  # Pushpin could not reach the (absent) origin
    fanout_kit.served.child.wait_for(r"GET /hello 502 .*\[fanout→origin\]")
    missing = httpx.get(fanout_kit.url + "/test/nothing")
    assert (missing.status_code, missing.text) == (404, "No such test endpoint\n")


def load_fanout_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fanout_app", STARTERS / "fanout/src/main.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fanout_grip_sig_check() -> None:
    app = load_fanout_app()
    assert app.grip_sig_is_valid(grip_sig())
    header, claims, _ = grip_sig().split(".")
    for bad in (
        grip_sig(key="other"),
        grip_sig(iss="pushpin"),
        grip_sig(expires_in=-1),
        grip_sig(expires_in=None),
        f"{header}.{claims}.",  # unsigned
        "eyJhbGciOiJub25lIn0." + claims + ".",  # alg none
        grip_sig()[:-2],
        "a.b",
        "a.b.c",
        "é.é.é",
        "",
    ):
        assert not app.grip_sig_is_valid(bad), bad
    events = app.ws_event("OPEN") + app.ws_event("TEXT", b"hi") + app.ws_event("CLOSE", b"\x03\xe8")
    assert events == b"OPEN\r\nTEXT 2\r\nhi\r\nCLOSE 2\r\n\x03\xe8\r\n"
    assert app.ws_events(events) == [("OPEN", None), ("TEXT", b"hi"), ("CLOSE", b"\x03\xe8")]
