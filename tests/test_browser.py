"""The fanout-forward page in a real headless Chromium, driven over the DevTools Protocol."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Served, Spawner
from tests.support.cdp import (
    DEVTOOLS_LISTENING,
    CDPSession,
    chromium_command,
    find_chromium,
    page_websocket_url,
)
from tests.support.processes import Child, alive
from tests.test_starters import start_forward


def require_chromium() -> str:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI") or os.environ.get("COMPUTE_EMU_NO_SKIP"):
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return binary


def stop_chromium(child: Child) -> None:
    """SIGTERM the browser and wait until its helper processes (renderers...) are gone too."""
    child.snapshot_descendants()
    child.stop()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in child.known_descendants) and time.monotonic() < deadline:
        time.sleep(0.05)
    # anything still alive is reported (and killed) by the spawn fixture


@pytest.fixture
def browser(spawn: Spawner, tmp_path: Path) -> Iterator[tuple[Child, int]]:
    """A headless Chromium and its DevTools port."""
    binary = require_chromium()
    # Chromium makes a directory for its singleton socket in TMPDIR and leaves it there when
    # stopped by a signal: give it one of its own, removed here. Not tmp_path: the socket's
    # path must fit in 107 bytes, which pytest's directories under xdist do not.
    scratch = tempfile.mkdtemp(prefix="ce-chromium-")
    child = spawn(chromium_command(binary, tmp_path / "chromium-profile"), env={"TMPDIR": scratch})
    try:
        port = int(child.wait_for(DEVTOOLS_LISTENING, timeout=30, stream="stderr").group(1))
        child.snapshot_descendants()
        yield child, port
    finally:
        stop_chromium(child)
        shutil.rmtree(scratch, ignore_errors=True)


def test_page_shows_sse_and_websocket_live(
    browser: tuple[Child, int],
    spawn: Spawner,
    serve: Callable[..., Served],
    tmp_path: Path,
) -> None:
    chromium, devtools_port = browser
    forward = start_forward(spawn, serve, tmp_path)
    with CDPSession(page_websocket_url(devtools_port)) as page:
        page.navigate(forward.fanout.url + "/")
        assert page.wait_until(
            "document.getElementById('status')?.textContent === 'SSE: open, WebSocket: open'",
            timeout=15,
        )
        chromium.snapshot_descendants()  # the renderer for the page

        # the WebSocket echoes what the page sends
        page.evaluate(
            "document.getElementById('ws-input').value = 'echo me';"
            "document.getElementById('ws-send').click()"
        )
        page.wait_until("document.getElementById('ws-log').textContent.includes('echo me')")

        # the form publishes (through the app and the origin) to both connections
        message = "hello from the browser"
        submit = (
            f"document.getElementById('message').value = {json.dumps(message)};"
            "document.getElementById('publish-form').requestSubmit()"
        )
        arrived = (
            f"['sse-log', 'ws-log'].every((id) => "
            f"document.getElementById(id).textContent.includes({json.dumps(message)}))"
        )
        deadline = time.monotonic() + 15
        while True:  # the subscriptions may still be settling: publish again until it arrives
            page.evaluate(submit)
            try:
                page.wait_until(arrived, timeout=1)
                break
            except AssertionError:
                assert time.monotonic() < deadline, page.evaluate("document.body.innerText")
        assert page.evaluate("location.pathname") == "/"  # fetch(), not a page reload
    forward.fanout.served.child.wait_for(r"POST /publish 200 .*\[send→origin\]")
