"""An official-SDK Flask app using stores, logging, geo and backends, served by compute-emu.

One server for the module (a Flask app with a route per feature), a test per feature.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import Backend, Served, Spawner
from tests.official_support import official_project, serve_official
from tests.support.processes import Child, python_module

APP = """
import json
import logging

from flask import Flask, request
from wit_world.imports import geo, http_body, kv_store, secret_store, shielding, types

from fastly_compute import requests
from fastly_compute.config_store import ConfigStore
from fastly_compute.exceptions.types.error import Unsupported
from fastly_compute.exceptions.types.open_error import NotFound
from fastly_compute.log import FastlyLogHandler, LogEndpoint
from fastly_compute.wsgi import WsgiHttpIncoming

log = logging.getLogger("app")
log.setLevel(logging.INFO)
log.addHandler(FastlyLogHandler("app-log"))  # at the top level, run for every request

app = Flask(__name__)


def read_all(body):
    data = b""
    while chunk := http_body.read(body, 65536):
        data += chunk
    return data


@app.route("/config/<key>")
def config(key):
    with ConfigStore.open("settings") as store:
        return store.get(key, "(none)")


@app.route("/missing/<kind>")
def missing(kind):
    try:
        if kind == "config":
            ConfigStore.open("nope")
        elif kind == "kv":
            kv_store.Store.open("nope")
        else:
            secret_store.Store.open("nope")
    except NotFound:
        return "NotFound caught"
    return "no error"


@app.route("/kv/<key>", methods=["GET", "PUT"])
def kv(key):
    store = kv_store.Store.open("kv")
    if request.method == "PUT":
        body = http_body.new()
        http_body.write(body, request.get_data())
        options = kv_store.InsertOptions(
            background_fetch=False, if_generation_match=None, metadata="meta",
            time_to_live_sec=None, mode=kv_store.InsertMode.OVERWRITE, extra=None,
        )
        store.insert(key, body, options)
        return "stored"
    entry = store.lookup(key)
    if entry is None:
        return "absent", 404
    return read_all(entry.take_body())


@app.route("/secret/<name>")
def secret(name):
    found = secret_store.Store.open("secrets").get(name)
    return found.plaintext(1024) if found is not None else ("absent", 404)


@app.route("/log/<word>")
def write_log(word):
    log.info("via logging %s", word)
    LogEndpoint.open("raw-log").write(f"direct {word}")
    return "logged"


@app.route("/geo")
def geolocation():
    return json.loads(geo.lookup(types.IpAddress_Ipv4((127, 0, 0, 1)), 4096))


@app.route("/shield")
def shield():
    try:
        shielding.shield_info("pop", 1024)
    except Unsupported:
        return "Unsupported"
    return "shielded"


@app.route("/echo", methods=["POST"])
def echo():
    return request.get_data()


@app.route("/both/<int:n>")
def both(n):
    static = requests.get(f"{BACKEND}/echo/static/{n}", fastly_backend="origin")
    dynamic = requests.post(f"{BACKEND}/echo/dynamic/{n}", json={"n": n})
    return {"static": static.json()["path"], "dynamic": dynamic.json(), "code": dynamic.status_code}


@app.route("/relative")
def relative():
    echoed = requests.get("/echo/relative?q=1", fastly_backend="origin").json()
    return {"path": echoed["path"], "headers": echoed["headers"]}


HttpIncoming = WsgiHttpIncoming(app)
"""

STORES = """
[local_server.config_stores.settings]
format = "inline-toml"
[local_server.config_stores.settings.contents]
greeting = "hello world"
[local_server.kv_stores]
kv = [{ key = "k1", data = "v1" }]
[local_server.secret_stores]
secrets = [{ key = "api-key", data = "s3cret" }]
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> tuple[Served, Backend]:
    spawn = Spawner()
    try:
        child = spawn(python_module("tests.support.backend"))
        port = int(child.wait_for(r"^PORT (\d+)").group(1))
        backend = Backend(port, child)
        source = f"BACKEND = {backend.url!r}\n" + APP
        project = official_project(
            tmp_path_factory.mktemp("official"),
            source,
            backends={"origin": backend.url},
            extra=STORES,
        )
        yield serve_official(spawn, project), backend
    finally:
        for one in reversed(spawn.children):
            one.stop()
            one.kill_leftovers()


def _get(served: tuple[Served, Backend], path: str, **kwargs: object) -> httpx.Response:
    return httpx.get(served[0].url + path, timeout=30, **kwargs)  # type: ignore[arg-type]


def test_config_store(served):
    assert _get(served, "/config/greeting").text == "hello world"
    assert _get(served, "/config/other").text == "(none)"


@pytest.mark.parametrize("kind", ["config", "kv", "secret"])
def test_except_not_found_catches_a_missing_store(served, kind):
    assert _get(served, f"/missing/{kind}").text == "NotFound caught"
    # the log says which store was asked for and which there are
    known = {"config": "settings", "kv": "kv", "secret": "secrets"}[kind]
    served[0].child.wait_for(rf'(?i)"nope".*known {kind}\w* stores: "?{known}\b')


def test_kv_store(served):
    assert _get(served, "/kv/k1").text == "v1"
    assert _get(served, "/kv/k2").status_code == 404
    r = httpx.put(served[0].url + "/kv/k2", content=b"new value")
    assert r.text == "stored"
    assert _get(served, "/kv/k2").text == "new value"


def test_secret_store(served):
    assert _get(served, "/secret/api-key").text == "s3cret"
    assert _get(served, "/secret/other").status_code == 404


def test_log_lines_once_per_request(served):
    """The top level adds a FastlyLogHandler for every request: each record is still
    written once (handlers do not pile up)."""
    for word in ("one", "two", "three", "four"):
        assert _get(served, f"/log/{word}").text == "logged"
    child: Child = served[0].child
    child.wait_for(r"raw-log :: direct four")
    out = child.stdout
    for word in ("one", "two", "three", "four"):
        assert out.count(f"app-log :: via logging {word}") == 1, out
        assert out.count(f"raw-log :: direct {word}") == 1, out


def test_geo(served):
    record = _get(served, "/geo").json()
    assert record["city"] == "San Francisco" and record["as_number"] == 54113


def test_unimplemented_interface_raises_unsupported(served):
    assert _get(served, "/shield").text == "Unsupported"


def test_request_body(served):
    data = bytes(range(256)) * 1000
    r = httpx.post(served[0].url + "/echo", content=data)
    assert r.content == data


def test_static_and_dynamic_backends_40_concurrent(served):
    """fastly_compute.requests caches dynamic backend names in a module global: here it is
    per request (as in a Wasm sandbox), so every request of 40 at once registers its own."""

    def one(n: int) -> dict:
        r = _get(served, f"/both/{n}")
        assert r.status_code == 200, r.text
        return r.json()

    with ThreadPoolExecutor(40) as pool:
        results = list(pool.map(one, range(40)))
    for n, result in enumerate(results):
        assert result["static"] == f"/echo/static/{n}"
        assert result["code"] == 200
        assert result["dynamic"]["path"] == f"/echo/dynamic/{n}"
        assert json.loads(result["dynamic"]["body"]) == {"n": n}


def test_a_path_only_url_goes_to_the_static_backend(served):
    """The SDK's documented form: ``requests.get("/api/users", fastly_backend="api")``."""
    data = _get(served, "/relative").json()
    assert data["path"] == "/echo/relative?q=1"
    host = [value for name, value in data["headers"] if name.lower() == "host"]
    assert host == [f"127.0.0.1:{served[1].port}"], data["headers"]
