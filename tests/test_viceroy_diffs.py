"""Behaviours where compute-emu differed from Viceroy (issue #9, part 4): each test failed on
the code before the fix."""

from __future__ import annotations

import httpx

from compute_emu.sdk import Request
from tests.fanout_support import start_fanout
from tests.support.sdk_hosts import BOTH

SDK_HOSTS = BOTH  # each test also runs on the SDK's Wasm host (tests/support/sdk_hosts.py)

APP = """
import os
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    path = req.get_path()
    if path == "/env":
        token = "FASTLY_API_TOKEN" in os.environ or os.getenv("FASTLY_API_TOKEN")
        seen = [token, os.environ.get("FASTLY_POP"), os.environ.get("FASTLY_TRACE_ID"),
                "PATH" in os.environ, os.environ.get("MY_BUILD_VAR")]
        Response.new().with_body_json(seen).send_to_client()
    elif path == "/hints":
        Response.from_status(103).with_header("Link", "</a.css>; rel=preload").send_to_client()
        Response.from_status(103).send_to_client()
        Response.from_body("the real one").send_to_client()
    elif path == "/other-1xx":
        Response.from_status(102).send_to_client()
    else:  # a SendError main() does not catch
        req.send("origin").send_to_client()
"""


def test_the_four_viceroy_differences(make_project, serve, backend, monkeypatch) -> None:
    monkeypatch.setenv("FASTLY_API_TOKEN", "a-real-token-from-the-shell")
    spec = {"url": backend.url, "first_byte_timeout_ms": 200}
    project = make_project(
        APP, backends={"origin": spec}, extra='[scripts]\nenv_vars = ["MY_BUILD_VAR=1"]'
    )
    served = serve(project)

    # (a) an uncaught SendError makes the guest fail: 500, whatever the cause
    timeout = httpx.get(f"{served.url}/slow?ms=2000", timeout=10)
    assert timeout.status_code == 500 and "timeout" in timeout.text
    hangup = httpx.get(f"{served.url}/hangup")
    assert hangup.status_code == 500 and "incomplete HTTP response" in hangup.text

    # (b) 103 Early Hints are dropped (logged); the real response follows
    hints = httpx.get(f"{served.url}/hints")
    assert (hints.status_code, hints.text) == (200, "the real one")
    served.child.wait_for(r"informational response \(103\)", stream="stderr")
    other = httpx.get(f"{served.url}/other-1xx")
    assert other.status_code == 500 and "102" in other.text

    # (c) only Viceroy's FASTLY_* variables: none of the shell's; a trace id per request
    first = httpx.get(f"{served.url}/env").json()
    second = httpx.get(f"{served.url}/env").json()
    assert first[:2] == [None, "XXX"] and first[3:] == [True, "1"]
    assert first[2] != second[2] and len(first[2]) == 32


def test_an_empty_query_is_an_empty_string() -> None:
    req = Request.get("http://example.com/?")
    assert req.get_query_str() == "" and req.get_url_str() == "http://example.com/?"
    assert Request.get("http://example.com/").get_query_str() is None
    assert Request.get("http://example.com/?#frag").get_url_str() == "http://example.com/?#frag"
    req.remove_query()
    assert req.get_query_str() is None and req.get_url_str() == "http://example.com/"
    req.set_query_str("")
    assert req.get_query_str() == "" and req.get_url_str() == "http://example.com/?"
    req.set_query_str("a=1")
    assert req.get_query_str() == "a=1"


def test_fanout_handoff_to_a_backend_not_in_fastly_toml_gets_pushpins_502(
    make_project, serve, origin, sdk_host
) -> None:
    from tests.fanout_support import FORWARD_APP

    project = make_project(
        FORWARD_APP,
        backends={"origin": f"http://127.0.0.1:{origin}/"},
        extra="[local_server.pushpin]\nenable = true",
    )
    fanout = start_fanout(serve, project)
    r = httpx.get(f"{fanout.url}/info", headers={"x-backend": "nope"})
    if sdk_host == "wit":  # the WIT hands off to a backend resource: "nope" cannot be opened
        assert r.status_code == 500 and "no backend named 'nope'" in r.text
        return
    assert r.status_code == 502  # Pushpin has no route for it, as under Viceroy
    fanout.served.child.wait_for(r"'nope' is not a backend in .*fastly.toml", stream="stderr")


def test_the_process_fastly_variables_are_hidden_inside_a_layer(monkeypatch) -> None:
    import os

    import pytest

    from compute_emu.runtime import environ

    monkeypatch.setenv("FASTLY_API_TOKEN", "shell")
    with environ.bound({"FASTLY_POP": "XXX"}):
        with pytest.raises(KeyError):
            os.environ["FASTLY_API_TOKEN"]
        assert "FASTLY_API_TOKEN" not in dict(os.environ) and os.environ["FASTLY_POP"] == "XXX"
    with environ.bound({"FASTLY_API_TOKEN": "set by a layer"}):
        assert os.environ["FASTLY_API_TOKEN"] == "set by a layer"
    assert os.environ["FASTLY_API_TOKEN"] == "shell"  # outside a layer: the process's
