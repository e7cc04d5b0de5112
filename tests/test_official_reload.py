"""Live reload of an official-SDK app: an edit of the entry module is served without a build
(the SDK README's Flask hello, unchanged but for its greeting)."""

from __future__ import annotations

import time

import httpx

from tests.official_support import official_project, serve_official

HELLO = """import platform
from flask import Flask
from fastly_compute.wsgi import WsgiHttpIncoming

app = Flask(__name__)


@app.route("/")
def index():
    version = platform.python_version()
    return f"GREETING from Python {version} on Fastly Compute!"

HttpIncoming = WsgiHttpIncoming(app)
"""


def _until(url: str, check, timeout: float = 10) -> httpx.Response:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(url)
        if check(r):
            return r
        assert time.monotonic() < deadline, f"never: {r.status_code} {r.text[:200]}"
        time.sleep(0.02)


def test_an_edit_is_served_and_a_broken_edit_is_a_500_until_fixed(tmp_path, spawn):
    project = official_project(tmp_path / "hello", HELLO.replace("GREETING", "Hello"))
    served = serve_official(spawn, project)
    r = httpx.get(served.url + "/")
    assert r.status_code == 200 and r.text.startswith("Hello from Python 3.1")
    (project / "main.py").write_text(HELLO.replace("GREETING", "Howdy"))
    _until(served.url + "/", lambda r: r.text.startswith("Howdy from Python"))
    (project / "main.py").write_text(HELLO.replace("def index():", "def index(:"))
    r = _until(served.url + "/", lambda r: r.status_code == 500)
    assert "main.py:9" in r.text and "syntax error" in r.text
    (project / "main.py").write_text(HELLO.replace("GREETING", "Back"))
    _until(served.url + "/", lambda r: r.text.startswith("Back from Python"))
    served.child.wait_for(r"app reloaded \(main.py changed\)")
