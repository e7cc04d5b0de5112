"""A main() that returns without answering its client (no send_to_client(), no stream, no
handoff) is warned about once per line it returned from, as a returned Response is: the
client gets Compute's empty 200 either way."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx

from compute_emu.runtime.app import MainExit, call_main

APP = """\
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    path = req.get_path()
    if path == "/forgot":
        Response.from_body("built, never sent")
        return
    if path == "/sent":
        Response.from_body("sent").send_to_client()
        return
    if path == "/streamed":
        Response.from_body("").stream_to_client().finish()
        return
    if path == "/returned":
        return Response.from_body("returned, not sent")
    print("fell off the end")
"""


def warnings_of(served) -> list[str]:  # type: ignore[no-untyped-def]
    return [line for line in served.child.stderr_lines if "without answering" in line]


def test_each_line_main_returned_from_without_answering_is_said_once(make_project, serve):
    project = make_project(APP)
    served = serve(project)
    main_py = project / "src" / "main.py"
    for path in ("/forgot", "/forgot", "/sent", "/streamed", "/other", "/other", "/forgot"):
        r = httpx.get(served.url + path, timeout=10)
        assert r.status_code == 200
        assert r.text == {"/sent": "sent"}.get(path, "")
    served.child.wait_for(r"#6 GET /forgot 200")
    assert warnings_of(served) == [
        f"warning: {main_py}:8: main() returned without answering the client, which got an "
        "empty 200: send a response (resp.send_to_client(), or stream_to_client()) or hand the "
        "request off (req.handoff_fanout(backend)) before main() returns",
        f"warning: {main_py}:17: main() returned without answering the client, which got an "
        "empty 200: send a response (resp.send_to_client(), or stream_to_client()) or hand the "
        "request off (req.handoff_fanout(backend)) before main() returns",
    ]
    # a returned Response: its own word, naming the line it was returned from
    httpx.get(served.url + "/returned", timeout=10)
    httpx.get(served.url + "/returned", timeout=10)
    served.child.wait_for(r"#8 GET /returned 200")
    returned = [line for line in served.child.stderr_lines if "returned a Response" in line]
    assert returned == [
        f"warning: {main_py}:16: main() returned a Response, which goes nowhere: the client "
        "got an empty 200. Send it instead: resp.send_to_client() (main() returns nothing)"
    ]
    # an edit is a new version of the file: said again (at its new line)
    main_py.write_text(APP.replace("    path = req.get_path()\n", "    path = req.get_path()\n\n"))
    deadline = time.monotonic() + 10
    while len(warnings_of(served)) < 3:  # the next request after the edit runs the new code
        assert time.monotonic() < deadline, served.child.stderr
        httpx.get(served.url + "/forgot", timeout=10)
        served.child.wait_for(r"GET /forgot 200")
    assert f"{main_py}:9: main() returned without answering" in warnings_of(served)[-1]
    # the watcher says so on its own time: the fresh instance may have run before
    served.child.wait_for(r"app reloaded \(main\.py changed\)")


def _main() -> None:
    x = 1
    if x:
        return


def test_the_line_comes_from_the_frame_and_a_profiler_is_left_alone():
    here = Path(__file__)
    exit = MainExit()
    call_main(_main, exit, here)
    assert (exit.value, exit.line, exit.main) == (None, _main.__code__.co_firstlineno + 3, _main)
    assert sys.getprofile() is None
    exit = MainExit()
    call_main(_main, exit, here.with_name("elsewhere.py"))  # main() not in the app's file
    assert exit.line is None

    def profiler(frame, event, arg):  # type: ignore[no-untyped-def]
        seen.append(event)

    seen: list[str] = []
    sys.setprofile(profiler)
    try:
        exit = MainExit()
        call_main(_main, exit, here)
    finally:
        sys.setprofile(None)
    assert exit.line is None and "call" in seen  # the profiler saw main() run
