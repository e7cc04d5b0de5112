"""breakpoint() in main(): a real `compute-emu serve` on a terminal shows the (Pdb) prompt,
takes what is typed, and keeps serving other requests while one is stopped."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import python_module
from tests.support.pty_child import PtyChild

APP = """\
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    x = 41
    if req.get_path() == "/stop":
        breakpoint()
    Response.from_body(f"x={x}").send_to_client()
"""


@pytest.fixture
def terminal(make_project) -> Iterator[tuple[PtyChild, str]]:  # type: ignore[no-untyped-def]
    project: Path = make_project(APP)
    child = PtyChild(
        python_module("compute_emu", "serve", "-C", str(project), "--addr", "127.0.0.1:0"),
        env={"NO_COLOR": "1"},
    )
    try:
        child.expect(b"Listening on http://")
        url = re.search(rb"Listening on (http://\S+)", child.shown)
        assert url is not None
        yield child, url.group(1).decode()
    finally:
        child.stop()


def test_pdb_prompt_shows_input_reaches_it_and_other_requests_are_served(terminal):
    child, url = terminal
    answers: list[httpx.Response] = []
    stopped = threading.Thread(
        target=lambda: answers.append(httpx.get(url + "/stop", timeout=30)), daemon=True
    )
    stopped.start()
    start = child.expect(b"#0 | (Pdb) ")  # the prompt shows, with no newline after it
    assert httpx.get(url + "/other", timeout=10).text == "x=41"  # served meanwhile
    child.type(b"p x\n")
    assert b"#0 | 41" in child.shown[start:] or child.expect(b"#0 | 41")
    child.type(b"c\n")
    stopped.join(20)
    assert answers and answers[0].text == "x=41"
    child.expect(b"GET /stop 200")
