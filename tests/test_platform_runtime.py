"""End to end: streaming responses, concurrent backend requests, log endpoints, dynamic
backends and --client-ip, through a real `compute-emu serve`."""

from __future__ import annotations

import socket
import time

import httpx

from tests.support.sdk_hosts import BOTH

SDK_HOSTS = BOTH  # each test also runs on the SDK's Wasm host (tests/support/sdk_hosts.py)

STREAM_APP = """
import time
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    resp = Response().with_content_type("text/event-stream")
    body = resp.stream_to_client()
    for n in (3, 2, 1):
        body.write(f"data: {n}\\n\\n")
        time.sleep(0.8)
    if req.get_path() == "/finish":
        body.write("data: liftoff\\n\\n")
        body.finish()
    else:
        body.write("data: left open\\n\\n")  # main() returns without finish()
"""


def test_stream_to_client_delivers_each_write_as_it_happens(make_project, serve):
    served = serve(make_project(STREAM_APP))
    with httpx.stream("GET", f"{served.url}/finish", timeout=10) as r:
        assert r.headers["content-type"] == "text/event-stream"
        assert "content-length" not in r.headers
        lines = r.iter_lines()
        assert next(lines) == "data: 3"
        first_at = time.monotonic()
        rest = [line for line in lines if line]
        done_at = time.monotonic()
    assert rest == ["data: 2", "data: 1", "data: liftoff"]
    assert done_at - first_at > 1.5, "the first event only arrived with the last one"


def test_unfinished_streaming_body_is_closed_cleanly(make_project, serve):
    served = serve(make_project(STREAM_APP))
    r = httpx.get(f"{served.url}/open", timeout=10)  # httpx raises on an incomplete body
    assert r.text.endswith("data: left open\n\n")


ASYNC_APP = """
import time
from compute_emu.sdk import Request, Response, select

def main():
    req = Request.from_client()
    started = time.monotonic()
    if req.get_path() == "/both":
        a = Request.get("http://b/slow?ms=1500").send_async("origin")
        b = Request.get("http://b/slow?ms=1500").send_async("origin")
        texts = [a.wait().take_body_str(), b.wait().take_body_str()]
        elapsed = time.monotonic() - started
        Response.from_body(f"{texts} {elapsed:.2f}").send_to_client()
    elif req.get_path() == "/select":
        slow = Request.get("http://b/slow?ms=1500").send_async("origin")
        fast = Request.get("http://b/slow?ms=50").send_async("origin")
        assert slow.poll() is None and not slow.is_ready()
        first, rest = select([slow, fast])
        sent = first.get_backend_request()
        order = [sent.get_path() + "?" + sent.get_query_str()]
        second, rest = select(rest)
        assert second.get_status() == 200 and slow.is_ready()
        order.append(second.get_backend_request().get_query_str())
        Response.from_body(" ".join(order) + f" left={len(rest)}").send_to_client()
"""


def test_send_async_requests_run_concurrently(make_project, serve, backend):
    served = serve(make_project(ASYNC_APP, backends={"origin": backend.url}))
    text = httpx.get(f"{served.url}/both", timeout=20).text
    texts, elapsed = text.rsplit(" ", 1)
    assert texts == "['slow\\n', 'slow\\n']"
    # two 1.5 s requests one after the other would take 3 s or more
    assert float(elapsed) < 2.6, text


def test_select_returns_the_first_to_finish(make_project, serve, backend):
    served = serve(make_project(ASYNC_APP, backends={"origin": backend.url}))
    assert httpx.get(f"{served.url}/select", timeout=20).text == "/slow?ms=50 ms=1500 left=0"


LOG_APP = """
import logging
from compute_emu.sdk import Endpoint, EndpointHandler, LogError, Response

def main():
    Endpoint.from_name("my_endpoint").write("hello\\nworld\\n")
    Endpoint.from_name("my_endpoint").write("")  # dropped
    logger = logging.getLogger("app")
    logger.addHandler(EndpointHandler("app_logs"))
    logger.warning("via logging")
    try:
        Endpoint.from_name("stdout")
        reserved = "accepted"
    except LogError as exc:
        reserved = str(exc)
    Response.from_body(reserved).send_to_client()
"""


def test_log_endpoints_write_named_lines_with_their_request(make_project, serve):
    served = serve(make_project(LOG_APP))
    assert httpx.get(served.url).text == "log endpoint name 'stdout' is reserved"
    served.child.wait_for(r"^#0 \| my_endpoint :: hello\\nworld$")
    served.child.wait_for(r"^#0 \| app_logs :: via logging$")
    assert "my_endpoint :: \n" not in served.child.stdout


DYNAMIC_APP = """
from compute_emu.sdk import Backend, BackendCreationError, Request, Response

def main():
    req = Request.from_client()
    port = req.get_query_parameter("port")
    dyn = Backend.builder("dyn", f"127.0.0.1:{port}").override_host("dyn.example").finish()
    echo = Request.get("http://x/echo").send(dyn).take_body_json()
    again = Request.get("http://x/echo").send("dyn").take_body_json()
    errors = []
    for name, target in (("origin", f"127.0.0.1:{port}"), ("bad", "http://x/y")):
        try:
            Backend.builder(name, target).finish()
        except BackendCreationError as exc:
            errors.append(exc.kind)
    static = Backend.from_name("origin")
    host = dict((k.lower(), v) for k, v in echo["headers"])["host"]
    Response.from_body(
        f"{host} {again['path']} {errors} {Backend.exists('dyn')} "
        f"{static.is_dynamic()} {dyn.is_dynamic()} {static.is_healthy().name} {static.get_port()}"
    ).send_to_client()
"""


def test_dynamic_backends(make_project, serve, backend):
    spec = {"url": f"http://127.0.0.1:{backend.port}/", "health": "unhealthy"}
    served = serve(make_project(DYNAMIC_APP, backends={"origin": spec}))
    text = httpx.get(f"{served.url}/?port={backend.port}").text
    assert text == (
        f"dyn.example /echo ['NameInUse', 'InvalidTarget'] True False True Unhealthy {backend.port}"
    )


def test_client_ip_flag(make_project, serve):
    app = """
    from compute_emu.sdk import Request, Response
    def main():
        Response.from_body(str(Request.from_client().get_client_ip_addr())).send_to_client()
    """
    served = serve(make_project(app), "--client-ip", "203.0.113.7")
    assert httpx.get(served.url).text == "203.0.113.7"


def test_streaming_client_gone_raises_broken_pipe_in_the_app(make_project, serve):
    app = """
    import time
    from compute_emu.sdk import Response
    def main():
        body = Response().stream_to_client()
        try:
            for _ in range(200):
                body.write("x" * 65536)
                time.sleep(0.01)
        except BrokenPipeError as exc:
            print("writer stopped:", exc)
    """
    served = serve(make_project(app))
    port = int(served.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        s.recv(1000)
    served.child.wait_for("writer stopped: the client closed the connection", timeout=20)
