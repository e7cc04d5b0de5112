"""The SDK's Wasm host (``compute_emu/sdk/_wit_host.py``), method by method, with no Wasm: an
app served with ``--sdk-host wit`` calls the host interface (``_interface.Host``) directly, and
each call goes through compute-emu's own ``wit_world`` to the native host (the loopback of
``compute_emu/official/loopback.py``). One server for the module (the 3.12+ env)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import Backend, Served, Spawner
from tests.official_support import serve_official
from tests.support.processes import python_module, run_compute_emu

APP = """
import ipaddress
import json

from compute_emu.sdk._errors import SendError
from compute_emu.sdk._host import current_host
from compute_emu.sdk._interface import (
    BackendInfo, BodyParts, CacheOptions, CacheWrite, HostError, KvInsert, OutgoingRequest,
    OutgoingResponse,
)

JSON = (("content-type", b"application/json"),)


def answer(host, value, status=200):
    body = BodyParts(json.dumps(value).encode())
    host.send_to_client(OutgoingResponse(status, "HTTP/1.1", JSON, body))


def read(stream):
    data = b""
    while stream is not None and (chunk := stream.read_chunk()):
        data += chunk
    return data


def get(path, **kwargs):
    return OutgoingRequest("GET", BACKEND + path, "HTTP/1.1", (), **kwargs)


def main():
    host = current_host("the test app")
    client = host.take_client_request()
    path = client.url.split("/", 3)[3].split("?")[0]
    globals()["route_" + path.replace("-", "_")](host, client)


def route_client(host, client):
    answer(host, {
        "method": client.method, "url": client.url, "version": client.version,
        "headers": [[name, value.decode()] for name, value in client.headers],
        "body": read(client.body).decode(), "no_body": client.body is None,
        "ip": str(client.client_ip), "server_ip": str(client.server_ip),
        "request_id": client.request_id,
    })


def route_send(host, client):
    request = OutgoingRequest(
        "POST", BACKEND + "/echo/x?y=1", "HTTP/1.1", (("X-Test", b"a"), ("x-test", b"b")),
        BodyParts(b"hel", client.body),
    )
    response = host.send(request, "origin")
    headers = response.headers + (("x-length", str(response.length).encode()),)
    host.send_to_client(
        OutgoingResponse(response.status, response.version, headers, BodyParts(b"", response.body))
    )


def route_errors(host, client):
    out = {}
    try:
        host.send(get("/"), "nope")
    except SendError as exc:
        out["unknown"] = exc.root_cause().name
    dead = BackendInfo("dead", "127.0.0.1", 9, False, dynamic=True)
    out["registered"] = [host.register_backend(dead), host.register_backend(dead)]
    try:
        host.send(OutgoingRequest("GET", "http://127.0.0.1:9/", "HTTP/1.1", ()), "dead")
    except SendError as exc:
        out["refused"] = [exc.root_cause().name, exc.backend_name(), exc.detail]
    try:
        host.send(get("/echo", cache=CacheOptions(before_send=lambda r: r)), "origin")
    except HostError as exc:
        out["hook"] = [exc.kind, "before" in exc.detail]
    answer(host, out)


def route_backend(host, client):
    info = host.backend("origin")
    dynamic = BackendInfo("dyn", "127.0.0.1", 8, False, override_host="other.example",
                          connect_timeout_ms=1500, dynamic=True)
    host.register_backend(dynamic)
    mine = host.backend("dyn")
    answer(host, {
        "origin": [info.name, info.host, info.port, info.use_ssl, info.dynamic, info.health],
        "dyn": [mine.host, mine.port, mine.override_host, mine.connect_timeout_ms, mine.dynamic],
        "missing": host.backend("nope"),
    })


def route_async(host, client):
    pending = [host.send_async(get(f"/slow?ms={ms}"), "origin") for ms in (400, 10)]
    first = host.select(pending)
    ready = host.pending_ready(pending[first])
    done = [host.wait_pending(p).status for p in pending]
    answer(host, {"first": first, "ready": ready, "done": done})


def route_upload(host, client):
    request = OutgoingRequest("POST", BACKEND + "/echo/up", "HTTP/1.1", (), BodyParts(b"one,"))
    sink, pending = host.send_async_streaming(request, "origin")
    sink.write(b"two,")
    sink.write(b"three")
    sink.finish()
    answer(host, json.loads(read(host.wait_pending(pending).body)))


def route_stream(host, client):
    head = OutgoingResponse(200, "HTTP/1.1", (("content-type", b"text/plain"),),
                            BodyParts(b"first\\n"))
    sink = host.stream_to_client(head)
    for word in (b"second\\n", b"third\\n"):
        sink.write(word)
    if "unfinished" not in client.url:
        sink.finish()


def route_twice(host, client):
    answer(host, "first")
    try:
        answer(host, "second")
    except RuntimeError as exc:
        host.log_write("checks", f"twice: {exc}")


def route_hints(host, client):
    host.send_to_client(OutgoingResponse(103, "HTTP/1.1", (("link", b"</a.css>"),)))
    try:
        host.send_to_client(OutgoingResponse(102, "HTTP/1.1", ()))
    except ValueError as exc:
        host.log_write("checks", f"hints: {exc}")
    answer(host, "after the hints")


def route_raise(host, client):
    raise ValueError("the app failed")


def route_fail(host, client):  # what serve_request does with what main() raised
    try:
        raise ValueError("the app failed")
    except ValueError as exc:
        host.fail(exc)


def route_nothing(host, client):
    pass


def route_close(host, client):
    host.send_to_client(OutgoingResponse(200, "HTTP/1.1", (), BodyParts(b"bye"), keepalive=False))


def route_stores(host, client):
    out = {}
    kv = host.kv_open("kv")
    out["missing_kv"] = host.kv_open("nope") is None
    host.kv_insert(kv, "a", b"1", KvInsert(metadata="m"))
    host.kv_insert(kv, "b", b"2", KvInsert())
    entry = host.kv_lookup(kv, "a")
    out["a"] = [entry.body.decode(), entry.metadata, entry.generation > 0]
    try:
        host.kv_insert(kv, "a", b"x", KvInsert(mode="add"))
    except HostError as exc:
        out["add"] = exc.kind
    out["keys"] = list(host.kv_list(kv, None, None, None).keys)
    out["deleted"] = [host.kv_delete(kv, "b"), host.kv_delete(kv, "b"), host.kv_lookup(kv, "b")]
    settings = host.config_store_open("settings")
    out["config"] = [host.config_store_get(settings, "greeting"),
                     host.config_store_get(settings, "other"),
                     host.config_store_open("nope")]
    secrets = host.secret_store_open("secrets")
    out["secret"] = [host.secret_store_get(secrets, "api").decode(),
                     host.secret_store_get(secrets, "other")]
    acl = host.acl_open("blocklist")
    match = host.acl_lookup(acl, ipaddress.ip_address("10.1.2.3"))
    out["acl"] = [match.prefix, match.action,
                  host.acl_lookup(acl, ipaddress.ip_address("192.168.0.1")),
                  host.acl_open("nope")]
    answer(host, out)


def route_lookups(host, client):
    key = dict((n.lower(), v.decode()) for n, v in client.headers).get("fastly-key")
    answer(host, {
        "geo": host.geo_lookup(ipaddress.ip_address("203.0.113.7"))["city"],
        "device": host.device_lookup("TestBot/1.0")["device"]["name"],
        "no_device": host.device_lookup("nobody"),
        "key": host.fastly_key_is_valid(key),
    })


def route_erl(host, client):
    host.erl_increment("rc", "e", 30)
    answer(host, {
        "rate": host.erl_rate("rc", "e", 1), "count": host.erl_count("rc", "e", 10),
        "check": [host.erl_check_rate("rc2", "e", 100, 1, 10, "pb", 120) for _ in range(2)],
        "box": [host.penaltybox_has("pb", "e"), host.penaltybox_has("pb", "other")],
    })
    host.penaltybox_add("pb2", "x", 60)
    host.log_write("checks", f"box2: {host.penaltybox_has('pb2', 'x')}")


def route_cache(host, client):
    out = {}
    lookup = host.cache_lookup(b"k1", (), True)
    out["first"] = host.cache_state(lookup).must_insert_or_update
    write = CacheWrite(ttl=60, user_metadata=b"meta", surrogate_keys=("tag",))
    sink, back = host.cache_transaction_insert(lookup, write, True)
    sink.write(b"cached ")
    sink.write(b"value")
    sink.finish()
    out["back"] = read(host.cache_body(back, 0, None)).decode()
    host.cache_close(lookup)
    found = host.cache_lookup(b"k1", (), False)
    state, obj = host.cache_state(found), host.cache_object(found)
    out["found"] = [state.found, state.usable, state.stale, obj.max_age, obj.length,
                    obj.user_metadata.decode(), obj.hits]
    out["range"] = read(host.cache_body(found, 2, 5)).decode()
    other = host.cache_insert(b"k2", CacheWrite(ttl=60))
    other.write(b"v2")
    other.finish()
    out["k2"] = read(host.cache_body(host.cache_lookup(b"k2", (), False), 0, None)).decode()
    out["missing"] = host.cache_object(host.cache_lookup(b"k3", (), False))
    host.purge_surrogate_key("tag", False)
    out["purged"] = host.cache_state(host.cache_lookup(b"k1", (), False)).found
    answer(host, out)


def route_cache_key(host, client):
    knobs = CacheOptions(ttl=60, cache_key=b"one key for both")
    bodies = [json.loads(read(host.send(get(path, cache=knobs), "origin").body))["path"]
              for path in ("/echo/first", "/echo/second")]
    answer(host, bodies)


def route_runtime(host, client):
    answer(host, [host.vcpu_ms() >= 0, host.heap_mib() > 0, len(host.sandbox_id())])


def route_ws(host, client):
    request = OutgoingRequest(client.method, client.url, client.version, client.headers)
    host.handoff(request, "ws", "websocket")
"""

TOML = """
[local_server]
fake_valid_fastly_keys = ["good-key"]
kv_stores.kv = []
secret_stores.secrets = [{ key = "api", data = "s3cret" }]
[local_server.config_stores.settings]
format = "inline-toml"
[local_server.config_stores.settings.contents]
greeting = "hello"
[local_server.acls]
blocklist = "blocklist.json"
[local_server.geolocation]
format = "inline-toml"
[local_server.geolocation.addresses."203.0.113.7"]
city = "Lisbon"
[local_server.device_detection]
format = "inline-toml"
[local_server.device_detection.user_agents."TestBot/1.0"]
device = { name = "Test Bot" }
"""
ACL = {"entries": [{"op": "create", "prefix": "10.0.0.0/8", "action": "BLOCK"}]}


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Served:
    spawn = Spawner()
    try:
        backend = spawn(python_module("tests.support.backend"))
        origin = Backend(int(backend.wait_for(r"^PORT (\d+)").group(1)), backend)
        ws = spawn(python_module("tests.support.ws_backend"))
        ws_port = int(ws.wait_for(r"^PORT (\d+)").group(1))
        project = tmp_path_factory.mktemp("wit-host") / "proj"
        (project / "src").mkdir(parents=True)
        (project / "src" / "main.py").write_text(f"BACKEND = {origin.url!r}\n" + APP)
        (project / "blocklist.json").write_text(json.dumps(ACL))
        (project / "fastly.toml").write_text(
            'manifest_version = 3\nname = "proj"\nlanguage = "python"\n'
            f'[local_server.backends.origin]\nurl = "{origin.url}"\n'
            f'[local_server.backends.ws]\nurl = "http://127.0.0.1:{ws_port}/"\n' + TOML
        )
        served = serve_official(spawn, project, env={"COMPUTE_EMU_SDK_HOST": "wit"})
        served.child.wait_for("runs on its Wasm host")
        yield served
    finally:
        for one in reversed(spawn.children):
            one.stop()
            one.kill_leftovers()


def _json(served: Served, path: str, **kwargs: object) -> object:
    r = httpx.request(str(kwargs.pop("method", "GET")), served.url + path, timeout=30, **kwargs)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_client_request_in_arrival_order_as_sent(served):
    r = httpx.post(
        served.url + "/client?q=1",
        headers=[("X-B", "1"), ("X-a", "2"), ("x-b", "3")],
        content=b"payload",
    )
    data = r.json()
    assert (data["method"], data["url"]) == ("POST", served.url + "/client?q=1")
    assert (data["version"], data["body"], data["ip"]) == ("HTTP/1.1", "payload", "127.0.0.1")
    custom = [pair for pair in data["headers"] if pair[0].lower() in ("x-a", "x-b")]
    assert custom == [["X-B", "1"], ["X-a", "2"], ["x-b", "3"]]
    assert data["server_ip"] == "127.0.0.1" and len(data["request_id"]) == 32
    assert _json(served, "/client")["no_body"] is True


def test_send_with_a_body_prefix_and_the_client_stream_passed_on(served):
    r = httpx.post(served.url + "/send", content=b"lo world")
    echoed = r.json()
    assert (echoed["method"], echoed["path"], echoed["body"]) == (
        "POST",
        "/echo/x?y=1",
        "hello world",
    )
    # both values under one name, which reaches the backend lowercased as Viceroy sends it
    assert [pair for pair in echoed["headers"] if pair[0].lower() == "x-test"] == [
        ["x-test", "a"],
        ["x-test", "b"],
    ]
    assert r.headers["x-length"] == r.headers["content-length"]


def test_send_errors(served):
    assert _json(served, "/errors") == {
        "unknown": "UnknownBackend",
        "registered": [True, False],
        "refused": [
            "ConnectionRefused",
            "dead",
            "http-req.send failed: SendErrorDetail_ConnectionRefused",
        ],
        "hook": ["unsupported", True],
    }


def test_backends_static_and_dynamic(served):
    data = _json(served, "/backend")
    assert data["origin"][0:2] == ["origin", "127.0.0.1"]
    assert data["origin"][3:] == [False, False, "unknown"]
    assert data["dyn"] == ["127.0.0.1", 8, "other.example", 1500, True]
    assert data["missing"] is None


def test_send_async_and_select(served):
    assert _json(served, "/async") == {"first": 1, "ready": True, "done": [200, 200]}


def test_send_async_streaming(served):
    echoed = _json(served, "/upload")
    assert (echoed["path"], echoed["body"]) == ("/echo/up", "one,two,three")


def test_stream_to_client_and_one_left_unfinished(served):
    for path in ("/stream", "/stream?unfinished"):
        r = httpx.get(served.url + path)
        assert (r.status_code, r.text) == (200, "first\nsecond\nthird\n")


def test_one_answer_per_request(served):
    assert _json(served, "/twice") == "first"
    served.child.wait_for(
        r"checks :: twice: cannot send a response: a response was already sent for this request"
    )


def test_informational_responses(served):
    """103 goes to the host (which drops it here, as Viceroy, and says so); another 1xx is
    refused; the real response follows."""
    assert _json(served, "/hints") == "after the hints"
    served.child.wait_for(r"informational response \(103\)", stream="stderr")
    served.child.wait_for(r"checks :: hints: cannot send an informational status \(102\)")


def test_an_exception_answers_500_and_nothing_answers_200(served):
    """The component's answer (``WitHost.fail``): a client on this machine gets the app's
    frames and the error, as from serve; natively, what escapes goes to the runtime."""
    r = httpx.get(served.url + "/fail")
    assert r.status_code == 500 and r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text.startswith("Traceback (most recent call last):\n")
    assert r.text.endswith("ValueError: the app failed\n")
    assert "main.py" in r.text and "compute_emu" not in r.text
    served.child.wait_for(r"ValueError: the app failed")
    r = httpx.get(served.url + "/raise")
    assert r.status_code == 500 and "ValueError: the app failed" in r.text
    served.child.wait_for(r"#\d+ main\(\) raised", stream="stderr")  # the runtime's
    r = httpx.get(served.url + "/nothing")
    assert (r.status_code, r.content) == (200, b"")


def test_no_keepalive_closes_the_connection(served):
    r = httpx.get(served.url + "/close")
    assert (r.text, r.headers.get("connection")) == ("bye", "close")


def test_stores_and_acls(served):
    assert _json(served, "/stores") == {
        "missing_kv": True,
        "a": ["1", "m", True],
        "add": "precondition_failed",
        "keys": ["a", "b"],
        "deleted": [True, False, None],
        "config": ["hello", None, None],
        "secret": ["s3cret", None],
        "acl": ["10.0.0.0/8", "BLOCK", None, None],
    }


def test_geo_device_detection_and_fastly_key(served):
    found = _json(served, "/lookups", headers={"Fastly-Key": "good-key"})
    assert found == {"geo": "Lisbon", "device": "Test Bot", "no_device": None, "key": True}
    assert _json(served, "/lookups", headers={"Fastly-Key": "bad"})["key"] is False


def test_rate_limiting(served):
    assert _json(served, "/erl") == {
        "rate": 30,
        "count": 30,
        "check": [True, True],
        "box": [True, False],
    }
    served.child.wait_for(r"checks :: box2: True")


def test_core_cache_and_purge(served):
    assert _json(served, "/cache") == {
        "first": True,
        "back": "cached value",
        "found": [True, True, False, 60.0, 12, "meta", 1],  # hits: as the cache counts
        "range": "che",
        "k2": "v2",
        "missing": None,
        "purged": False,
    }


def test_readthrough_cache_key(served):
    assert _json(served, "/cache-key") == ["/echo/first", "/echo/first"]


def test_instance_numbers(served):
    assert _json(served, "/runtime") == [True, True, 32]


def test_websocket_handoff(served):
    async def scenario() -> None:
        address = f"ws://{served.url.removeprefix('http://')}/ws"
        async with connect(address) as ws:
            await asyncio.wait_for(ws.recv(), 10)  # the backend's hello
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), 10) == "backend: ping"

    asyncio.run(scenario())


def test_without_the_stubs_it_says_what_to_run(tmp_path):
    """--sdk-host wit needs fastly-compute's stubs (not in compute-emu's own 3.11 env)."""
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.py").write_text("def main():\n    pass\n")
    (project / "fastly.toml").write_text('manifest_version = 3\nname = "p"\n')
    result = run_compute_emu("serve", "-C", str(project), "--sdk-host", "wit")
    assert result.returncode == 1
    assert "needs the wit_world stubs of fastly-compute" in result.stderr
    assert "bash scripts/official-env" in result.stderr


def test_an_exception_shows_no_traceback_to_a_client_elsewhere(tmp_path, spawn):
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.py").write_text(
        "from compute_emu.sdk._host import current_host\n"
        "def main():\n"
        "    try:\n"
        "        raise ValueError('hidden')\n"
        "    except ValueError as exc:\n"
        "        current_host('t').fail(exc)\n"
    )
    (project / "fastly.toml").write_text('manifest_version = 3\nname = "p"\n')
    served = serve_official(
        spawn, project, "--client-ip", "203.0.113.9", env={"COMPUTE_EMU_SDK_HOST": "wit"}
    )
    r = httpx.get(served.url + "/")
    assert (r.status_code, r.text) == (500, "Internal Server Error\n")
    served.child.wait_for(r"ValueError: hidden")  # in the log
