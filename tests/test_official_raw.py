"""A raw ``HttpIncoming`` app on the WIT bindings: what the SDK does not wrap (streaming
responses, async sends and select, the downstream request's details, dictionaries, device
detection, ACLs, compute-runtime). One server for the module."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import Backend, Served, Spawner
from tests.official_support import official_project, serve_official
from tests.support.processes import python_module

APP = """
import json
import time

import fastly_compute  # noqa: F401
from fastly_compute.exceptions.types.error import Unsupported
from wit_world import exports
from wit_world.imports import (
    acl, async_io, backend, cache, compute_runtime, device_detection, dictionary, erl, http_body,
    http_downstream, http_req, http_resp, purge, types,
)


def answer(data, status=200, content_type="application/json"):
    response = http_resp.Response.new()
    response.set_status(status)
    response.insert_header("content-type", content_type.encode())
    body = http_body.new()
    http_body.write(body, data if isinstance(data, bytes) else json.dumps(data).encode())
    http_resp.send_downstream(response, body)


def read_all(body):
    data = b""
    while chunk := http_body.read(body, 4096):
        data += chunk
    return data


class HttpIncoming(exports.HttpIncoming):
    def handle(self, request, body):
        path = request.get_uri(4096).split("://", 1)[1].split("/", 1)[1].split("?")[0]
        getattr(self, "route_" + path.replace("-", "_"))(request, body)

    def route_stream(self, request, body):
        response = http_resp.Response.new()
        out = http_body.new()
        http_body.write(out, b"first\\n")
        http_resp.send_downstream_streaming(response, out)
        for word in (b"second\\n", b"third\\n"):
            time.sleep(0.05)
            http_body.write(out, word)
        http_body.close(out)

    def route_async(self, request, body):
        origin = backend.Backend.open("origin")
        pending = []
        for ms in (300, 10):
            req = http_req.Request.new()
            req.set_uri(f"{BACKEND}/slow?ms={ms}")
            pending.append(http_req.send_async(req, http_body.new(), origin))
        first = async_io.select(pending)
        done = []
        for handle in (pending[first], pending[1 - first]):
            response, response_body = http_req.await_response(handle)
            done.append([response.get_status(), len(read_all(response_body))])
        answer({"first": first, "done": done})

    def route_downstream(self, request, body):
        ip = http_downstream.downstream_client_ip_addr(request)
        names, _ = http_downstream.downstream_original_header_names(request, 4096, 0)
        answer({
            "ip": list(ip.value),
            "ip_kind": type(ip).__name__,
            "request_id": http_downstream.downstream_client_request_id(request, 64),
            "names": names.split("\\0")[:-1],
            "count": http_downstream.downstream_original_header_count(request),
            "tls": http_downstream.downstream_tls_protocol(request, 64),
            "header": request.get_header_value("x-test", 100).decode(),
            "method": request.get_method(16),
            "body": read_all(body).decode(),
        })

    def route_lookups(self, request, body):
        with dictionary.Dictionary.open("dict") as d:
            value = d.lookup("k", 100)
        device = device_detection.lookup("TestBot/1.0", 4096)
        with acl.Acl.open("blocklist") as blocklist:
            hit = blocklist.lookup(types.IpAddress_Ipv4((10, 1, 2, 3)))
            miss = blocklist.lookup(types.IpAddress_Ipv4((192, 168, 0, 1)))
        answer({
            "dict": value,
            "device": json.loads(device),
            "acl": json.loads(read_all(hit)),
            "miss": miss,
            "pop": compute_runtime.get_pop(),
            "vcpu": compute_runtime.get_vcpu_ms(),
            "version": compute_runtime.get_service_version(),
        })

    def route_cache(self, request, body):
        key = b"cache-key"
        lookup = cache.LookupOptions(
            request_headers=None, always_use_requested_range=False, extra=None
        )

        def write_options(keys):
            return cache.WriteOptions(
                max_age_ns=60 * 10**9, request_headers=None, vary_rule=None, initial_age_ns=None,
                stale_while_revalidate_ns=None, surrogate_keys=keys, length=None,
                user_metadata=b"meta", edge_max_age_ns=None, sensitive_data=False, extra=None,
            )

        steps = []
        entry = cache.Entry.transaction_lookup(key, lookup)
        steps.append(str(entry.get_state()))
        writer = entry.transaction_insert(write_options("tag-a tag-b"))
        http_body.write(writer, b"cached value")
        http_body.close(writer)
        cache.close_entry(entry)
        found = cache.Entry.lookup(key, lookup)
        steps.append(str(found.get_state()))
        whole = cache.GetBodyOptions(from_=None, to=None, extra=None)
        steps.append(read_all(found.get_body(whole)).decode())
        steps.append(found.get_user_metadata(100).decode())
        steps.append(found.get_max_age_ns() // 10**9)
        purge.purge_surrogate_key("tag-b", purge.PurgeOptions(soft_purge=False, extra=None))
        steps.append(str(cache.Entry.lookup(key, lookup).get_state()))
        answer(steps)

    def route_upload(self, request, body):
        req = http_req.Request.new()
        req.set_method("POST")
        req.set_uri(f"{BACKEND}/echo/upload")
        upload = http_body.new()
        http_body.write(upload, b"first,")
        pending = http_req.send_async_streaming(req, upload, backend.Backend.open("origin"))
        http_body.write(upload, b"second")
        http_body.close(upload)
        response, response_body = http_req.await_response(pending)
        answer(json.loads(read_all(response_body)))

    def route_stream_back(self, request, body):
        lookup = cache.LookupOptions(
            request_headers=None, always_use_requested_range=False, extra=None
        )
        entry = cache.Entry.transaction_lookup(b"stream-back", lookup)
        options = cache.WriteOptions(
            max_age_ns=60 * 10**9, request_headers=None, vary_rule=None, initial_age_ns=None,
            stale_while_revalidate_ns=None, surrogate_keys=None, length=None,
            user_metadata=None, edge_max_age_ns=None, sensitive_data=False, extra=None,
        )
        writer, reader = entry.transaction_insert_and_stream_back(options)
        http_body.write(writer, b"written and read back")
        http_body.close(writer)
        whole = cache.GetBodyOptions(from_=None, to=None, extra=None)
        answer({"back": read_all(reader.get_body(whole)).decode()})

    def route_erl(self, request, body):
        counter, box = erl.RateCounter.open("rc"), erl.PenaltyBox.open("pb")
        blocked = [counter.check_rate("client", 100, 1, 10, box, 120) for _ in range(2)]
        answer({"blocked": blocked, "in_box": box.has("client"),
                "count": counter.lookup_count("client", 10)})

    def route_unsupported(self, request, body):
        try:
            http_body.append_trailer(http_body.new(), "x", b"y")
        except Unsupported:
            answer({"trailer": "Unsupported"})
"""

EXTRA = """
[local_server.dictionaries.dict]
format = "inline-toml"
[local_server.dictionaries.dict.contents]
k = "dictionary value"
[local_server.device_detection]
format = "inline-toml"
[local_server.device_detection.user_agents."TestBot/1.0"]
device = { name = "Test Bot", brand = "Test" }
[local_server.acls]
blocklist = "blocklist.json"
"""
ACL = {"entries": [{"op": "create", "prefix": "10.0.0.0/8", "action": "BLOCK"}]}


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Served:
    spawn = Spawner()
    try:
        child = spawn(python_module("tests.support.backend"))
        backend = Backend(int(child.wait_for(r"^PORT (\d+)").group(1)), child)
        source = f"BACKEND = {backend.url!r}\n" + APP
        project = official_project(
            tmp_path_factory.mktemp("raw"), source, backends={"origin": backend.url}, extra=EXTRA
        )
        (project / "blocklist.json").write_text(json.dumps(ACL))
        yield serve_official(spawn, project)
    finally:
        for one in reversed(spawn.children):
            one.stop()
            one.kill_leftovers()


def test_streaming_response(served):
    with httpx.stream("GET", served.url + "/stream") as r:
        assert r.status_code == 200
        lines = list(r.iter_lines())
    assert lines == ["first", "second", "third"]


def test_send_async_and_select(served):
    data = httpx.get(served.url + "/async", timeout=10).json()
    assert data["first"] == 1  # the 10 ms request is done first
    assert data["done"] == [[200, 5], [200, 5]]


def test_the_downstream_request(served):
    r = httpx.post(served.url + "/downstream", headers={"X-Test": "yes"}, content=b"payload")
    data = r.json()
    assert data["ip"] == [127, 0, 0, 1] and data["ip_kind"] == "IpAddress_Ipv4"
    assert len(data["request_id"]) == 32
    assert "X-Test" in data["names"]  # as the client spelled it
    assert data["count"] == len(data["names"])
    assert data["tls"] is None
    assert (data["header"], data["method"], data["body"]) == ("yes", "POST", "payload")


def test_dictionary_device_detection_acl_and_runtime(served):
    data = httpx.get(served.url + "/lookups").json()
    assert data["dict"] == "dictionary value"
    assert data["device"]["device"]["name"] == "Test Bot"
    assert data["acl"] == {"action": "BLOCK", "prefix": "10.0.0.0/8"}
    assert data["miss"] is None
    assert (data["pop"], data["version"]) == ("XXX", 0)
    assert isinstance(data["vcpu"], int)


def test_core_cache_transaction_insert_lookup_and_purge(served):
    steps = httpx.get(served.url + "/cache").json()
    assert steps[0] == "LookupState.MUST_INSERT_OR_UPDATE"
    assert "FOUND" in steps[1] and "USABLE" in steps[1] and "STALE" not in steps[1]
    assert steps[2:5] == ["cached value", "meta", 60]
    assert steps[5] == "LookupState(0)"  # purged by one of its surrogate keys


def test_send_async_streaming_uploads_what_is_written_until_close(served):
    echoed = httpx.get(served.url + "/upload", timeout=10).json()
    assert (echoed["method"], echoed["path"], echoed["body"]) == (
        "POST",
        "/echo/upload",
        "first,second",
    )


def test_cache_insert_and_stream_back(served):
    assert httpx.get(served.url + "/stream-back").json() == {"back": "written and read back"}


def test_rate_limiting_counts(served):
    """ERL counts (as on Compute; Viceroy's counters are stubs): 100 events over 1 s is over a
    limit of 10/s, so the entry is blocked and in the penalty box."""
    assert httpx.get(served.url + "/erl").json() == {
        "blocked": [True, True],
        "in_box": True,
        "count": 100,  # the second call found it in the box: not counted
    }


def test_trailers_raise_unsupported(served):
    assert httpx.get(served.url + "/unsupported").json() == {"trailer": "Unsupported"}


BARE_APP = """
import sys

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import config_store, http_body, http_resp, types


class HttpIncoming(exports.HttpIncoming):
    def handle(self, request, body):
        try:
            config_store.Store.open("no-such-store")
            caught = "nothing raised"
        except Err as exc:
            caught = "Err " + str(exc.value == types.OpenError.NOT_FOUND)
        loaded = "fastly_compute" in sys.modules
        out = http_body.new()
        http_body.write(out, f"{caught}; fastly_compute loaded: {loaded}".encode())
        http_resp.send_downstream(http_resp.Response.new(), out)
"""


def test_an_app_on_the_bare_bindings_catches_err(tmp_path, spawn):
    """Without ``import fastly_compute`` in the app, nothing imports it (as in a build): WIT
    errors stay componentize-py's ``Err``, which the app catches as on Compute."""
    served = serve_official(spawn, official_project(tmp_path / "bare", BARE_APP))
    for _ in range(2):
        r = httpx.get(served.url + "/")
        assert (r.status_code, r.text) == (200, "Err True; fastly_compute loaded: False")
