"""End to end: apps that answer by themselves, through a real `compute-emu serve` process."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import httpx
import pytest

from tests.support.sdk_hosts import BOTH

SDK_HOSTS = BOTH  # each test also runs on the SDK's Wasm host (tests/support/sdk_hosts.py)

ECHO_APP = """
import json, os
from compute_emu.sdk import Request, Response

calls = 0

def main():
    global calls
    calls += 1
    req = Request.from_client()
    print("handling", req.get_path())
    body = req.take_body_str()
    resp = Response.from_body(json.dumps({
        "method": req.get_method(),
        "url": req.get_url_str(),
        "path": req.get_path(),
        "query": req.get_query_str(),
        "q": req.get_query_parameter("q"),
        "headers": req.get_headers(),
        "body": body,
        "calls": calls,
        "client_ip": str(req.get_client_ip_addr()),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("FASTLY_", "MY_"))},
    }))
    resp.set_header("x-app", "echo")
    resp.send_to_client()
"""


def test_app_echoes_method_url_query_headers_and_body(make_project, serve):
    served = serve(make_project(ECHO_APP))
    r = httpx.post(f"{served.url}/path/x?q=a%20b&z=1", content=b"hello", headers={"X-Thing": "1"})
    assert r.status_code == 200
    assert r.headers["x-app"] == "echo"
    assert r.headers["content-length"] == str(len(r.content))
    data = r.json()
    assert data["method"] == "POST"
    assert data["url"] == f"{served.url}/path/x?q=a%20b&z=1"
    assert data["path"] == "/path/x"
    assert data["query"] == "q=a%20b&z=1"
    assert data["q"] == "a b"
    assert ["x-thing", "1"] in data["headers"]
    assert data["body"] == "hello"
    assert data["client_ip"] == "127.0.0.1"
    served.child.wait_for(r"#0 \| handling /path/x")  # the app's print, with its request's id
    assert "POST /path/x?q=a%20b&z=1 200" in served.child.wait_for(r"POST /path/x").string


def test_each_request_gets_a_fresh_module(make_project, serve):
    served = serve(make_project(ECHO_APP))
    with httpx.Client() as client:
        counts = [client.get(f"{served.url}/").json()["calls"] for _ in range(3)]
    assert counts == [1, 1, 1]


def test_environment_as_viceroy_sets_it_plus_env_vars_and_env_file(make_project, serve):
    project = make_project(ECHO_APP, extra='[scripts]\nenv_vars = ["MY_A=1"]\nenv_file = ".env"')
    (project / ".env").write_text("# comment\nMY_B=two\n")
    env = httpx.get(serve(project).url).json()["env"]
    assert env["FASTLY_HOSTNAME"] == "localhost"
    assert env["FASTLY_POP"] == "XXX"
    assert env["FASTLY_SERVICE_VERSION"] == "0"
    assert env["MY_A"] == "1" and env["MY_B"] == "two"


def test_chunked_request_body_is_read(make_project, serve):
    served = serve(make_project(ECHO_APP))
    r = httpx.post(served.url, content=iter([b"ab", b"cd", b"ef"]))
    assert r.json()["body"] == "abcdef"


def test_keep_alive_and_fifty_concurrent_clients(make_project, serve):
    served = serve(make_project(ECHO_APP))
    results: list[int] = []
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            with httpx.Client(base_url=served.url) as c:
                for i in range(5):
                    r = c.post(f"/c{n}?q={i}", content=f"{n}-{i}")
                    data = r.json()
                    assert (data["q"], data["body"], data["calls"]) == (str(i), f"{n}-{i}", 1)
                    results.append(r.status_code)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert results == [200] * 250


def test_head_gets_headers_and_no_body(make_project, serve):
    served = serve(make_project(ECHO_APP))
    r = httpx.head(served.url)
    assert r.status_code == 200
    assert int(r.headers["content-length"]) > 0
    assert r.content == b""


def test_expect_100_continue(make_project, serve):
    served = serve(make_project(ECHO_APP))
    port = int(served.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(
            b"POST /e HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert s.recv(1024).startswith(b"HTTP/1.1 100 ")
        s.sendall(b"hello")
        response = b""
        while b'"calls"' not in response:
            response += s.recv(65536)
    assert b'"body": "hello"' in response


def test_pipelined_requests_are_answered_in_order(make_project, serve):
    served = serve(make_project(ECHO_APP))
    port = int(served.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(
            b"GET /one HTTP/1.1\r\nHost: localhost\r\n\r\n"
            b"GET /two HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert data.index(b'"/one"') < data.index(b'"/two"')


def test_raising_app_gives_500_with_traceback_and_server_keeps_serving(make_project, serve):
    app = """
    from compute_emu.sdk import Request, Response
    def main():
        req = Request.from_client()
        if req.get_path() == "/boom":
            raise ValueError("kaboom")
        Response.from_body("fine").send_to_client()
    """
    served = serve(make_project(app))
    r = httpx.get(f"{served.url}/boom")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("text/plain")
    assert "ValueError: kaboom" in r.text
    assert 'main.py", line 6, in main' in r.text
    assert "compute_emu/runtime" not in r.text.split("main.py")[0]
    assert httpx.get(f"{served.url}/ok").text == "fine"
    served.child.wait_for("ValueError: kaboom", stream="stderr")


def test_app_that_sends_nothing_gives_empty_200(make_project, serve):
    served = serve(make_project("def main():\n    pass\n"))
    r = httpx.get(served.url)
    assert (r.status_code, r.content) == (200, b"")


def test_second_response_raises(make_project, serve):
    app = """
    from compute_emu.sdk import Response
    def main():
        Response.from_body("first").send_to_client()
        try:
            Response.from_body("second").send_to_client()
        except RuntimeError as e:
            print("second refused:", e)
    """
    served = serve(make_project(app))
    assert httpx.get(served.url).text == "first"
    served.child.wait_for("second refused: cannot send a response: a response was already sent")


def test_slow_app_does_not_stall_other_connections(make_project, serve):
    app = """
    import time
    from compute_emu.sdk import Request, Response
    def main():
        req = Request.from_client()
        if req.get_path() == "/slow":
            time.sleep(3)
        Response.from_body(req.get_path()).send_to_client()
    """
    served = serve(make_project(app))
    order: list[str] = []
    slow = threading.Thread(
        target=lambda: order.append(httpx.get(f"{served.url}/slow", timeout=10).text)
    )
    slow.start()
    time.sleep(0.3)
    order.append(httpx.get(f"{served.url}/fast").text)
    slow.join(10)
    assert order == ["/fast", "/slow"]


def test_handoff_fanout_without_pushpin_says_how_to_enable(make_project, serve, sdk_host):
    app = """
    from compute_emu.sdk import Request
    def main():
        Request.from_client().handoff_fanout("origin")
    """
    served = serve(make_project(app, backends={"origin": "http://127.0.0.1:9"}))
    r = httpx.get(served.url)
    assert r.status_code == 500
    if sdk_host == "wit":  # the WIT's error has no words: the app sees the call that failed
        assert "SendError: redirect-to-grip-proxy" in r.text
        return
    assert "Fanout is not enabled" in r.text
    assert "[local_server.pushpin]" in r.text and "--experimental-enable-pushpin" in r.text


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", 400),
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405),
        (b"GET / HTTP/1.1\r\nHost: localhost\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 431),
        (b"NOT HTTP\r\n\r\n", 400),
    ],
)
def test_bad_requests_get_a_clear_status(make_project, serve, raw, status):
    served = serve(make_project(ECHO_APP))
    port = int(served.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        data = s.recv(65536)
    assert data.startswith(f"HTTP/1.1 {status} ".encode()), data[:100]
    assert httpx.get(served.url).status_code == 200  # still serving


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stops_cleanly_on_signal(make_project, serve, sig):
    served = serve(make_project(ECHO_APP))
    httpx.get(served.url)
    started = time.monotonic()
    assert served.child.stop(sig) == 0
    assert time.monotonic() - started < 5
    assert "compute-emu stopped" in served.child.stdout


def test_stops_even_with_an_app_still_running(make_project, serve):
    app = "import time\ndef main():\n    time.sleep(60)\n"
    served = serve(make_project(app))
    port = int(served.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        time.sleep(0.3)
        assert served.child.stop(signal.SIGINT) == 0


def test_json_helpers_round_trip(make_project, serve):
    app = """
    from compute_emu.sdk import Request, Response
    def main():
        req = Request.from_client()
        data = req.take_body_json()
        Response().with_body_json({"got": data}).with_status(201).send_to_client()
    """
    r = httpx.post(serve(make_project(app)).url, json={"a": [1, 2]})
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    assert json.loads(r.content) == {"got": {"a": [1, 2]}}


def test_unread_request_bodies_are_drained_or_the_connection_closed(make_project, serve):
    app = """
    from compute_emu.sdk import Response
    def main():
        Response.from_body("ignored your body").send_to_client()
    """
    served = serve(make_project(app))
    port = int(served.url.rsplit(":", 1)[1])

    def post(s: socket.socket, size: int) -> bytes:
        s.sendall(f"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: {size}\r\n\r\n".encode())
        s.sendall(b"z" * size)
        data = b""
        while not data.endswith(b"ignored your body"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data

    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        assert post(s, 100_000).endswith(b"ignored your body")
        assert post(s, 10).endswith(b"ignored your body")  # same connection, still in sync
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 50000000\r\n\r\n")
        s.sendall(b"z" * 3_000_000)  # far more than is worth draining
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        assert data.endswith(b"ignored your body")  # answered, then closed


def test_http_1_0_client_gets_a_closed_connection(make_project, serve):
    served = serve(make_project(ECHO_APP))
    port = int(served.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /old HTTP/1.0\r\nHost: localhost\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ") and b'"/old"' in data


def test_app_edits_are_picked_up_without_a_restart(make_project, serve):
    app = """
    from compute_emu.sdk import Response
    import helper
    def main():
        Response.from_body(f"v1 {helper.VALUE}").send_to_client()
    """
    project = make_project(app)
    entry, helper = project / "src" / "main.py", project / "src" / "helper.py"
    helper.write_text("VALUE = 'a'\n")
    served = serve(project)
    assert httpx.get(served.url).text == "v1 a"

    def edit(path, text: str) -> None:
        path.write_text(text)
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        time.sleep(0.3)

    edit(entry, entry.read_text().replace("v1", "v2"))
    assert httpx.get(served.url).text == "v2 a"
    edit(helper, "VALUE = 'b'\n")
    assert httpx.get(served.url).text == "v2 b"
    served.child.wait_for(r"app reloaded \(helper.py changed\)")
    edit(entry, "def main(:\n")
    broken = httpx.get(served.url)
    assert (
        broken.status_code == 500 and "main.py:1" in broken.text and "syntax error" in broken.text
    )
    edit(entry, app.replace("v1", "v3").replace("\n    ", "\n").strip() + "\n")
    assert httpx.get(served.url).text == "v3 b"
