"""README's "A 60-second walkthrough", run as written: the page of step 1 (in Chromium), the
curl of step 2, and step 3's commands, which must reach them. Only the ports differ (tests
never take 7676/5561): step 2's URL is rewritten, and step 3's commands run unchanged with
COMPUTE_EMU_PUBLISH_URL pointing at this serve's publish port."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Served, Spawner
from tests.support.cdp import CDPSession, page_websocket_url
from tests.support.processes import ROOT, Child
from tests.test_browser import browser  # noqa: F401  (the Chromium fixture)
from tests.test_starters import start_forward


def walkthrough_steps() -> dict[int, list[str]]:
    """The inline commands of each numbered step of the walkthrough."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### A 60-second walkthrough", 1)[1].split("\n## ", 1)[0]
    steps: dict[int, list[str]] = {}
    for number, body in re.findall(r"^(\d)\. (.*?)(?=^\d\. |\Z)", section, re.M | re.S):
        steps[int(number)] = re.findall(r"`([^`]+)`", body)
    return steps


def test_the_walkthrough_commands_are_the_ones_tested():
    steps = walkthrough_steps()
    assert steps[1][0] == "make serve"
    assert steps[2] == ["curl -N http://127.0.0.1:7676/stream"]
    commands = [c for c in steps[3] if c.startswith((".venv/bin/compute-emu", "curl "))]
    assert commands == [
        '.venv/bin/compute-emu publish test "hello"',
        '.venv/bin/compute-emu publish test-sse "hello" --format sse',
        "curl -d '"
        '{"items":[{"channel":"test","formats":{"http-stream":{"content":"hello\\n"}}}]}'
        "' http://127.0.0.1:5561/publish/",
    ]


def run_step(command: str, publish_port: int) -> None:
    argv = shlex.split(command.replace("127.0.0.1:5561", f"127.0.0.1:{publish_port}"))
    env = {**os.environ, "COMPUTE_EMU_PUBLISH_URL": f"http://127.0.0.1:{publish_port}"}
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, (command, result.stdout, result.stderr)


def until(command: str, publish_port: int, arrived: Callable[[], bool]) -> None:
    """Run ``command`` until what it publishes has arrived (subscriptions take a moment)."""
    deadline = time.monotonic() + 20
    while not arrived():
        assert time.monotonic() < deadline, f"{command!r}: never arrived"
        run_step(command, publish_port)
        time.sleep(0.3)


def test_step_3_reaches_the_page_of_step_1_and_the_curl_of_step_2(
    browser: tuple[Child, int],  # noqa: F811
    spawn: Spawner,
    serve: Callable[..., Served],
    tmp_path: Path,
) -> None:
    steps = walkthrough_steps()
    chromium, devtools_port = browser
    forward = start_forward(spawn, serve, tmp_path)  # what `make serve` runs, on free ports
    url, publish_port = forward.fanout.url, forward.fanout.publish_port
    with CDPSession(page_websocket_url(devtools_port)) as page:
        # 1. the page
        page.navigate(url + "/")
        assert page.wait_until(
            "document.getElementById('status')?.textContent === 'SSE: open, WebSocket: open'",
            timeout=15,
        )
        chromium.snapshot_descendants()
        said = page.evaluate(
            "[document.getElementById('sse-listens').textContent,"
            " document.getElementById('ws-listens').textContent]"
        )
        assert [" ".join(text.split()) for text in said] == [
            'channel test-sse, SSE events (http-stream format): compute-emu publish test-sse "hi" '
            "--format sse",
            'channel test, ws-message format: compute-emu publish test "hi"',
        ]
        # 2. the held stream
        (curl_stream,) = steps[2]
        curl = spawn(
            shlex.split(curl_stream.replace("127.0.0.1:7676", url.removeprefix("http://")))
        )

        def lines(text: str) -> int:
            return sum(line == text for line in curl.stdout_lines)

        def on_page(panel: str) -> Callable[[], bool]:
            return lambda: bool(
                page.evaluate(f"document.getElementById('{panel}').textContent.includes('hello')")
            )

        # 3. the publishes
        everywhere, sse, by_hand = (c for c in steps[3] if c.startswith((".venv/", "curl ")))
        until(everywhere, publish_port, lambda: lines("hello") > 0 and on_page("ws-log")())
        until(sse, publish_port, on_page("sse-log"))
        before = lines("hello")
        run_step(by_hand, publish_port)  # the stream is subscribed by now: once is enough
        deadline = time.monotonic() + 10
        while lines("hello") == before:
            assert time.monotonic() < deadline, "the curl publish never reached the stream"
            time.sleep(0.05)
