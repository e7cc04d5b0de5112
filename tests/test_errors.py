"""An error raised in main(): the app's frames and one clean message (ours with -v); an HTML
page for a browser on loopback, plain text for other loopback clients, nothing to others."""

from __future__ import annotations

from pathlib import Path

import httpx

from compute_emu.runtime.error_page import error_body
from compute_emu.sdk._errors import SendError, SendErrorCause

APP = """\
from compute_emu.sdk import Request, Response

def helper(req):
    if req.get_path() == "/fanout":
        req.handoff_fanout("origin")
    return req.send("nope")

def main():
    req = Request.from_client()
    helper(req)
"""


def _project(make_project):  # type: ignore[no-untyped-def]
    return make_project(APP, backends={"origin": "http://127.0.0.1:9/"})


def _project_dir(served) -> str:  # type: ignore[no-untyped-def]
    return served.child.args[served.child.args.index("-C") + 1]


def test_an_sdk_error_shows_the_apps_frames_and_one_clean_message(make_project, serve):
    served = serve(_project(make_project))
    r = httpx.get(served.url + "/x", timeout=10)
    assert r.status_code == 500
    text = r.text
    assert 'main.py", line 10, in main' in text and 'main.py", line 6, in helper' in text
    assert "compute_emu/" not in text and "concurrent/futures" not in text and "anyio" not in text
    assert "frames hidden; -v shows them" in text
    project = _project_dir(served)
    last = text.rstrip().splitlines()[-1]
    assert last == f"SendError: no backend named 'nope' in {project}/fastly.toml (known: origin)"
    served.child.wait_for(r"error: #0 main\(\) raised", stream="stderr")
    served.child.wait_for(r"^SendError: no backend named 'nope'", stream="stderr")
    stderr = served.child.stderr
    assert "bridge.py" not in stderr and "concurrent/futures" not in stderr
    assert "to backend nope" not in stderr  # Rust's Display text, after the detail, read oddly

    r = httpx.get(served.url + "/fanout", timeout=10)
    last = r.text.rstrip().splitlines()[-1]
    assert last.startswith("SendError: Fanout is not enabled for local testing")
    assert "internal error" not in r.text  # a configuration problem, not an internal error
    assert last.endswith("--experimental-enable-pushpin to `compute-emu serve` (backend 'origin')")


def test_verbose_shows_our_frames_too(make_project, serve):
    served = serve(_project(make_project), "-v")
    r = httpx.get(served.url + "/x", timeout=10)
    assert "compute_emu/runtime/hostcalls.py" in r.text and "frames hidden" not in r.text
    served.child.wait_for(r"aio/loop\.py", stream="stderr")


def test_a_browser_gets_a_page_with_the_apps_frames_first_and_the_request(make_project, serve):
    served = serve(_project(make_project))
    r = httpx.get(
        served.url + "/fanout?q=<x>", headers={"accept": "text/html", "x-mine": "<b>"}, timeout=10
    )
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    page = r.text
    first_app = page.index('<div class="frame app">')
    assert "main.py, line 5, in helper" in page[first_app : first_app + 200]  # innermost first
    assert page.index("compute-emu frames</summary>") > page.rindex('class="frame app"')
    assert "GET /fanout?q=%3Cx%3E" in page and "&lt;b&gt;" in page and "<b>" not in page


def test_only_loopback_clients_see_details():
    error = SendError("origin", SendErrorCause.ConnectionRefused, "127.0.0.1:9")
    args = (Path("/app/main.py"), "GET", "/", [("accept", b"text/html")])
    assert error_body(error, args[0], "192.0.2.7", *args[1:]) == (
        "text/plain; charset=utf-8",
        "Internal Server Error\n",
    )
    assert error_body(error, args[0], "::1", *args[1:])[0].startswith("text/html")
    plain = error_body(error, args[0], "127.0.0.1", "GET", "/", [])[1]
    assert plain.rstrip().endswith("SendError: connection refused: 127.0.0.1:9 (backend 'origin')")
