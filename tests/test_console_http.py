"""The console over real HTTP, against `compute-emu serve` (without Pushpin): the page, the
JSON API's answers, the event stream, and what it refuses."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Backend, Served

APP = """
import json
from compute_emu.sdk import Request, Response
from compute_emu.sdk.kv_store import KVStore

def main():
    req = Request.from_client()
    path = req.get_path()
    if path == "/kv":
        key = req.get_query_parameter("key")
        try:
            found = KVStore.open("sessions").lookup(key)
        except Exception as exc:
            Response.from_status(404).with_body(f"no {key}: {type(exc).__name__}").send_to_client()
            return
        Response.from_status(200).with_body(found.take_body_bytes()).send_to_client()
        return
    if path == "/write":
        KVStore.open("sessions").insert("from-app", b"written by the app")
        Response.from_status(204).send_to_client()
        return
    if path == "/fail":
        print("about to fail")
        raise ValueError("the console should show this")
    if path == "/cached":
        bereq = Request.get("http://127.0.0.1/echo/cached").with_ttl(60)
        bereq = bereq.with_surrogate_key("echoes").with_stale_while_revalidate(30)
        bereq.send("backend").send_to_client()
        return
    print("hello from main")
    print("second line")
    Response.from_status(200).with_body("ok").send_to_client()
"""

STORES = """
[local_server.kv_stores]
sessions = [{key = "seeded", data = "from fastly.toml", metadata = "m1"}]
[local_server.config_stores.settings]
format = "inline-toml"
[local_server.config_stores.settings.contents]
mode = "dev"
[local_server.secret_stores]
keys = [{key = "api", data = "s3cret-value"}]
"""


class Console:
    """The console of a served project: its URLs, token and a client."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.url = served.child.wait_for(r"  console: (http://\S+)").group(1)
        page = httpx.get(self.url)
        self.token = re.search(r'name="console-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    def api(self, path: str, body: object = None, **headers: str) -> httpx.Response:
        send = {"X-Console-Token": self.token, **headers}
        if body is None:
            return httpx.get(self.url + "api/" + path, headers=send)
        return httpx.post(self.url + "api/" + path, json=body, headers=send)


@pytest.fixture
def console(
    make_project: Callable[..., Path], serve: Callable[..., Served], backend: Backend
) -> Iterator[Console]:
    project = make_project(APP, backends={"backend": backend.url + "/"}, extra=STORES)
    yield Console(serve(project))


def test_the_page_and_its_files(console: Console) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\.compute-emu/console/", console.url)
    page = httpx.get(console.url)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert len(console.token) >= 32 and "__CONSOLE_TOKEN__" not in page.text
    for element in ("requests-table", "held-channels", "publish-form", "kv-form", "cache-table"):
        assert f'id="{element}"' in page.text
    script = httpx.get(console.url + "console.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "EventSource" in script.text
    assert httpx.get(console.url + "console.css").headers["content-type"].startswith("text/css")
    for module in ("dom.js", "requests.js", "held.js", "stores.js", "cache.js"):
        answer = httpx.get(console.url + module)
        assert answer.status_code == 200 and answer.text.startswith("// ")
        assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
    moved = httpx.get(console.url.rstrip("/"))
    assert moved.status_code == 308 and moved.headers["location"] == "/.compute-emu/console/"
    # a second run gets another token
    assert console.api("requests").status_code == 200


def test_requests_with_their_output_and_error_page(console: Console) -> None:
    base = console.url.split("/.compute-emu")[0]
    assert httpx.get(base + "/hello").text == "ok"
    assert httpx.get(base + "/fail", headers={"Accept": "text/plain"}).status_code == 500
    console.served.child.wait_for(r"GET /fail 500")
    views = {v["target"]: v for v in console.api("requests").json()["requests"]}
    hello = views["/hello"]
    assert hello["method"] == "GET" and hello["status"] == 200 and hello["state"] == "done"
    assert hello["output"] == ["hello from main", "second line"]
    assert hello["bytes_sent"] == 2 and hello["duration_ms"] > 0 and hello["error"] is None
    assert set(hello) == {
        "id", "method", "target", "status", "state", "started", "duration_ms", "bytes_sent",
        "bytes_received", "messages", "calls", "error", "error_page", "output",
    }  # fmt: skip
    fail = views["/fail"]
    assert fail["error"] == "ValueError: the console should show this"
    assert fail["output"] == ["about to fail"] and fail["error_page"] is True
    page = console.api(f"error-page?id={fail['id']}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "main() raised ValueError" in page.text and "the console should show this" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    # a link (the token in the query) opens it too
    link = httpx.get(console.url + f"api/error-page?id={fail['id']}&token={console.token}")
    assert link.status_code == 200
    missing = console.api(f"error-page?id={hello['id']}")
    assert missing.status_code == 404 and "no error page" in missing.json()["error"]


def test_kv_written_in_the_console_is_read_by_the_app(console: Console) -> None:
    base = console.url.split("/.compute-emu")[0]
    overview = console.api("stores").json()
    assert overview["kv"] == [{"name": "sessions", "keys": 1, "persisted": False}]
    assert overview["config"] == [{"name": "settings", "items": {"mode": "dev"}, "error": None}]
    assert overview["secret"] == [{"name": "keys", "names": ["api"]}]
    assert "s3cret" not in console.api("stores").text

    seeded = console.api("kv/entry?store=sessions&key=seeded").json()
    assert seeded["value"] == "from fastly.toml" and seeded["metadata"] == "m1"
    written = console.api(
        "kv/write", {"store": "sessions", "key": "greeting", "value": "hi from the console"}
    )
    assert written.status_code == 200 and written.json()["key"] == "greeting"
    assert httpx.get(base + "/kv?key=greeting").text == "hi from the console"

    assert httpx.get(base + "/write").status_code == 204
    assert console.api("kv?store=sessions").json()["keys"] == ["from-app", "greeting", "seeded"]
    app_written = console.api("kv/entry?store=sessions&key=from-app").json()
    assert app_written["value"] == "written by the app"

    deleted = console.api("kv/delete", {"store": "sessions", "key": "greeting"})
    assert deleted.json() == {"store": "sessions", "key": "greeting", "deleted": True}
    assert httpx.get(base + "/kv?key=greeting").status_code == 404
    unknown = console.api("kv?store=nope")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "no KV store named 'nope' (KV stores: sessions)"}


def test_cache_objects_purge_and_clock(console: Console) -> None:
    base = console.url.split("/.compute-emu")[0]
    for _ in range(3):
        assert httpx.get(base + "/cached").status_code == 200
    console.served.child.wait_for(r"GET /cached 200")
    views = [v for v in console.api("requests").json()["requests"] if v["target"] == "/cached"]
    caches = [v["calls"][0].get("cache") for v in views]
    assert caches[0] == "MISS" and caches[-1] == "HIT"
    [entry] = console.api("cache").json()["objects"]
    assert entry["key"].endswith("/echo/cached") and entry["kind"] == "http"
    assert entry["surrogate_keys"] == ["echoes"] and entry["ttl"] == 60.0
    assert entry["state"] == "fresh" and entry["hits"] >= 1

    assert console.api("cache/advance", {"seconds": 61}).json() == {"advanced": 61}
    [stale] = console.api("cache").json()["objects"]
    assert stale["state"] == "stale-while-revalidate" and stale["fresh_for"] < 0
    assert console.api("cache/advance", {"seconds": 30}).json() == {"advanced": 30}
    assert console.api("cache").json()["objects"] == []  # past its stale window
    assert httpx.get(base + "/cached").status_code == 200  # stored again
    assert console.api("cache/purge", {"surrogate_key": "echoes", "soft": True}).json() == {
        "purged": 1
    }
    [purged] = console.api("cache").json()["objects"]
    assert purged["soft_purged"] is True and purged["state"] == "stale-while-revalidate"
    assert console.api("cache/purge", {"all": True}).json() == {"purged": 1}
    console.served.child.wait_for(r"cache: purged 1 object \(everything\)")
    bad = console.api("cache/advance", {"seconds": "soon"})
    assert bad.status_code == 400 and bad.json() == {"error": 'say how far: {"seconds": S}'}


def test_the_event_stream(console: Console) -> None:
    base = console.url.split("/.compute-emu")[0]
    url = console.url + "api/events?token=" + console.token
    with httpx.stream("GET", url, timeout=10) as events:
        assert events.headers["content-type"] == "text/event-stream; charset=utf-8"
        lines = events.iter_lines()
        assert next(lines) == "retry: 1000"
        assert next(lines) == "event: snapshot"
        snapshot = json.loads(next(lines).removeprefix("data: "))
        assert set(snapshot) == {"requests", "held"}
        assert snapshot["held"]["fanout"] is False
        httpx.get(base + "/streamed-one")
        for line in lines:
            if line.startswith("data: ") and "/streamed-one" in line:
                view = json.loads(line.removeprefix("data: "))
                assert view["target"] == "/streamed-one" and view["status"] == 200
                break


def test_publish_needs_fanout(console: Console) -> None:
    answer = console.api("publish", {"channel": "test", "message": "hi"})
    assert answer.status_code == 409
    assert answer.json() == {"error": "Fanout is off: enable [local_server.pushpin] in fastly.toml"}


def test_what_the_api_refuses(console: Console) -> None:
    api = console.url + "api/requests"
    other_origin = {"X-Console-Token": console.token, "Origin": "http://127.0.0.1:9"}
    no_token = httpx.get(api)
    assert no_token.status_code == 403
    assert no_token.text == (
        "compute-emu console: missing or wrong console token (reload the console page)\n"
    )
    assert httpx.get(api, headers=other_origin).status_code == 403
    rebinding = httpx.get(api, headers={"X-Console-Token": console.token, "Host": "evil.example"})
    assert rebinding.status_code == 403
    form = httpx.post(
        console.url + "api/kv/write",
        content='{"store": "sessions", "key": "k", "value": "v"}',
        headers={"X-Console-Token": console.token, "Content-Type": "text/plain"},
    )
    assert form.status_code == 415
    assert console.api("kv?store=sessions").json()["keys"] == ["seeded"]
    assert console.api("nothing").status_code == 404
    wrong_method = console.api("requests", {})
    assert wrong_method.status_code == 405 and wrong_method.json() == {
        "error": "use GET for api/requests"
    }
    assert console.api("events", {}).json() == {"error": "use GET for api/events"}
    not_json = httpx.post(
        console.url + "api/kv/write",
        content="{",
        headers={"X-Console-Token": console.token, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    # the purge endpoint is still there, with its own rules
    base = console.url.split("/.compute-emu")[0]
    assert httpx.post(base + "/.compute-emu/purge?all=1").json() == {"purged": 0}
