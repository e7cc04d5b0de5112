"""Fanout from an official-SDK app: ``redirect_to_grip_proxy`` through the real Pushpin, with the
fanout-forward-official starter and its example origin, served natively and as the Wasm
component `compute-emu build` makes of it (`serve --wasm`)."""

from __future__ import annotations

import sys
import time

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import Spawner
from tests.fanout_support import (
    Fanout,
    LineReader,
    free_port,
    publish_until,
    require_pushpin,
    start_fanout,
)
from tests.official_support import serve_official
from tests.support.processes import run_compute_emu
from tests.test_starters import (
    copy_starter,
    end_stream,
    line_arrives,
    rewrite_manifest,
    ws_receives,
    ws_url,
)
from tests.wasm_support import serve_wasm


# the first wasm test builds the app and compiles it
@pytest.fixture(
    scope="module", params=["native", pytest.param("wasm", marks=pytest.mark.timeout(900))]
)
def module_forward(
    request: pytest.FixtureRequest,
    spawn_module: Spawner,
    tmp_path_factory: pytest.TempPathFactory,
) -> Fanout:
    """The starter served natively, and built (tests/wasm_apps/official_main.py over it) and
    served with `serve --wasm`, each started once for this module: the same checks pass both
    ways."""
    require_pushpin()
    spawn = spawn_module
    root = tmp_path_factory.mktemp("forward")
    if request.param == "wasm":
        project = request.getfixturevalue("official_built").copy_to(root)
        serve = serve_wasm
    else:
        project = copy_starter("fanout-forward-official", root)
        serve = serve_official
    proxy, publish = free_port(), free_port()
    origin = spawn(
        [
            sys.executable,
            str(project / "origin" / "app.py"),
            *("--port", "0", "--publish-url", f"http://127.0.0.1:{publish}"),
        ]
    )
    origin_port = origin.wait_for(r"^Listening on http://127\.0\.0\.1:(\d+)$").group(1)
    rewrite_manifest(project, "localhost:3000", f"localhost:{origin_port}")
    return start_fanout(lambda *args: serve(spawn, *args), project, proxy=proxy, publish=publish)


@pytest.fixture
def forward(module_forward: Fanout) -> Fanout:
    """The fanout-forward-official starter with its origin, shared by this module's tests."""
    module_forward.served.child.read_from_here()
    return module_forward


def test_http_stream_through_redirect_to_grip_proxy_receives_a_publish(forward: Fanout):
    reader = LineReader(forward.url + "/stream")
    try:
        assert reader.next_line() == "stream open on channel test"
        item = {"channel": "test", "formats": {"http-stream": {"content": "hello\n"}}}
        publish_until(forward, item, line_arrives(reader, "hello"))
        end_stream(forward, "test", reader)
    finally:
        reader.close()
    forward.served.child.wait_for(r"GET /stream 200 .*\[fanout→origin\]")
    forward.served.child.wait_for(r"FASTLY_SERVICE_VERSION: 0")


def test_websocket_and_the_send_path(forward: Fanout):
    with connect(ws_url(forward, "/ws?channel=chat")) as ws:
        ws.send("hi there")
        assert ws.recv(timeout=10) == "hi there"  # echoed by the origin
        item = {"channel": "chat", "formats": {"ws-message": {"content": "published!"}}}
        publish_until(forward, item, ws_receives(ws, "published!"))
        # POST is not handed off: http_req.send to the origin, which publishes
        deadline = time.monotonic() + 10
        while True:
            r = httpx.post(forward.url + "/publish", json={"channel": "chat", "message": "via app"})
            assert r.status_code == 200, r.text
            if ws_receives(ws, "via app")():
                break
            assert time.monotonic() < deadline
    forward.served.child.wait_for(r"GET /ws\?channel=chat 101 .*\[fanout→origin\]")


def test_init_from_the_official_starter(tmp_path):
    result = run_compute_emu("init", "--from", "fanout-forward-official", "-p", str(tmp_path / "x"))
    assert result.returncode == 0, result.stderr
    assert "redirect_to_grip_proxy(origin)" in (tmp_path / "x" / "main.py").read_text()
    assert 'entry = "main"' in (tmp_path / "x" / "pyproject.toml").read_text()
