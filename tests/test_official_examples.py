"""The official SDK's published examples, unchanged, served by compute-emu under Python 3.12+.

Each answers as the SDK's own tests (run against Viceroy) expect.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import quote

import httpx

from tests.official_support import example_project, serve_official


def test_flask_app(tmp_path, spawn):
    served = serve_official(spawn, example_project(tmp_path, "flask-app"))
    r = httpx.get(f"{served.url}/hello/flask")
    assert (r.status_code, r.text) == (200, "Hello flask!")
    r = httpx.get(f"{served.url}/info", headers={"Test-Header": "test-value"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    data = r.json()
    assert data["service"] == "fastly-compute-python-flask" and data["status"] == "ok"
    assert isinstance(data["vcpu_time_ms"], int)
    assert data["request_headers"]["Test-Header"] == "test-value"
    assert data["request_method"] == "GET" and data["path_info"] == "/info"
    assert data["python_version"].split()[0] >= "3.12"
    r = httpx.get(f"{served.url}/error")
    assert r.status_code == 500
    served.child.wait_for("This is an intentional error for testing purposes")


def test_bottle_app(tmp_path, spawn):
    served = serve_official(spawn, example_project(tmp_path, "bottle-app"))
    for name in ("test", "world"):
        r = httpx.get(f"{served.url}/hello/{name}")
        assert (r.status_code, r.text) == (200, f"Hello {name}!")
    r = httpx.get(f"{served.url}/info", headers={"X-Custom-Header": "test-value"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    data = r.json()
    assert data["service"] == "fastly-compute-python" and data["status"] == "ok"
    assert isinstance(data["vcpu_time_ms"], int)
    assert (data["request_method"], data["path_info"]) == ("GET", "/info")
    assert data["request_headers"]["X-Custom-Header"] == "test-value"
    assert httpx.get(f"{served.url}/nonexistent").status_code == 404
    assert httpx.post(f"{served.url}/api/data", json={"key": "value"}).status_code == 404
    assert httpx.get(f"{served.url}/error").status_code == 500


def _compressed(cells: str) -> str:
    """The board as the page's JavaScript sends it: bits, padded to bytes, URL-safe base64."""
    bits = cells.replace("2", "1").replace("3", "1")
    data = int(bits, 2).to_bytes((len(bits) + 7) // 8, "big")
    return base64.urlsafe_b64encode(data).decode()


def test_game_of_life(tmp_path, spawn):
    """Uses ``reuse_sandboxes_for_ms`` (http-downstream.next-request): each request is still
    answered, and nothing fails after the response."""
    served = serve_official(spawn, example_project(tmp_path, "game-of-life"))
    r = httpx.get(f"{served.url}/")
    assert r.status_code == 200 and "async function startAnimation" in r.text
    for _ in range(2):
        r = httpx.get(f"{served.url}/board/none")
        assert r.status_code == 200 and re.fullmatch(r"[01]{2500}", r.text)
    # a vertical blinker at x=10, y=9..11 turns horizontal: the middle stays (2 neighbours),
    # the two new cells are born (3 neighbours)
    board = ["0"] * 2500
    for y in (9, 10, 11):
        board[y * 50 + 10] = "1"
    expected = ["0"] * 2500
    expected[10 * 50 + 9], expected[10 * 50 + 10], expected[10 * 50 + 11] = "1", "2", "1"
    r = httpx.get(f"{served.url}/board/{_compressed(''.join(board))}")
    assert (r.status_code, r.text) == (200, "".join(expected))
    served.stop()
    assert "Traceback" not in served.child.stdout + served.child.stderr


def test_backend_requests(tmp_path, spawn, backend):
    """fastly_compute.requests through a static backend (fastly.toml) and a dynamic one."""
    project = example_project(tmp_path, "backend-requests", backends={"test-be": backend.url})
    served = serve_official(spawn, project)

    def proxy(method: str, url: str, **params: str) -> dict:
        query = "&".join(f"{k}={quote(v)}" for k, v in {"url": url, **params}.items())
        r = httpx.get(f"{served.url}/proxy/{method}?{query}")
        assert r.status_code == 200, r.text
        return r.json()

    static = proxy("get", f"{backend.url}/echo/static", fastly_backend="test-be")
    assert static["success"] is True and static["status_code"] == 200, static
    assert '"path": "/echo/static"' in static["response_preview"]  # the first 200 bytes
    posted = proxy(
        "post", f"{backend.url}/echo/post", fastly_backend="test-be", json='{"demo": "post"}'
    )
    assert posted["success"] is True, posted
    assert posted["response_preview"].startswith('{"method": "POST", "path": "/echo/post"')
    dynamic = proxy("get", f"{backend.url}/echo/dynamic")
    assert dynamic["success"] is True and dynamic["fastly_backend"] is None, dynamic
    assert '"path": "/echo/dynamic"' in dynamic["response_preview"]
    missing = proxy("get", "/x", fastly_backend="nope")
    assert missing["error_type"] == "RequestException"
    assert "Static backend 'nope' does not exist" in missing["error"]


def test_a_failed_send_raises_the_sdks_connection_error(tmp_path, spawn):
    """A refused connection and a DNS failure are the SDK's ConnectionError (compute-emu
    fills the send error's detail, which Viceroy leaves empty), never an error of compute-emu."""
    project = example_project(tmp_path, "backend-requests")
    served = serve_official(spawn, project)
    for url in ("http://127.0.0.1:9/", "http://this-domain-should-not-exist-12345.invalid/"):
        r = httpx.get(f"{served.url}/proxy/get", params={"url": url}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["error_type"] == "ConnectionError", r.json()
    served.stop()
    assert "FrozenInstanceError" not in served.child.stdout + served.child.stderr
