"""``-vv`` shows the first 1 KiB of each backend response body the app reads (``#N   <``
body lines, under the backend call's headers); ``-v`` does not."""

from __future__ import annotations

import httpx

APP = """
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    body = req.take_body_bytes()
    answer = Request.post("http://origin.example/echo").with_body(body).send("origin")
    got = answer.take_body_bytes()
    Response.from_body(f"{answer.get_status()} {len(got)}").send_to_client()
"""


def _served(make_project, serve, backend, *flags: str):  # type: ignore[no-untyped-def]
    project = make_project(APP, backends={"origin": f"http://127.0.0.1:{backend.port}/"})
    return serve(project, *flags)


def test_very_verbose_shows_the_first_bytes_of_a_backend_response_body(
    make_project, serve, backend
):
    served = _served(make_project, serve, backend, "-vv")
    sent = b"payload-" + b"y" * 3000
    answer = httpx.post(served.url + "/p", content=sent, timeout=10)
    status, size = answer.text.split()
    assert status == "200" and int(size) > 3000
    child = served.child
    child.wait_for(r"#0 → backend origin: POST \S+/echo 200")
    line = child.wait_for(r"#0   < body [\d.]+KB: ").string
    assert "'{" in line and line.endswith("…") and len(line) < 1200, line
    child.wait_for(r"#0 POST /p 200")


def test_verbose_alone_shows_no_backend_body(make_project, serve, backend):
    served = _served(make_project, serve, backend, "-v")
    assert httpx.post(served.url + "/p", content=b"small", timeout=10).text.startswith("200 ")
    child = served.child
    child.wait_for(r"#0 POST /p 200")
    child.stop()
    assert " body " not in child.stdout, child.stdout
