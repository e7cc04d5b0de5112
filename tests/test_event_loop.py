"""``serve --loop``: uvloop where installed, asyncio's loop on request, and a clear error."""

from __future__ import annotations

import sys
import urllib.request

import pytest

from compute_emu.aio.event_loop import backend_options, loop_name, uvloop_installed
from compute_emu.errors import UserError

HELLO = """
from compute_emu.sdk import Request, Response
def main():
    Request.from_client()
    Response.from_body("hello").send_to_client()
"""


def test_uvloop_is_installed_with_compute_emu():
    # a dependency on CPython off Windows: the tests must run on it, not skip it
    assert uvloop_installed()


def test_auto_prefers_uvloop_and_asyncio_is_plain():
    assert loop_name(backend_options("auto")) == "uvloop"
    assert backend_options("asyncio") == {}
    assert loop_name(backend_options("uvloop")) == "uvloop"


def test_without_uvloop_auto_falls_back_and_uvloop_is_an_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now fails
    assert backend_options("auto") == {}
    with pytest.raises(UserError, match=r"--loop uvloop: uvloop is not installed"):
        backend_options("uvloop")
    with pytest.raises(UserError, match=r"--loop trio"):
        backend_options("trio")


@pytest.mark.parametrize("choice", ["asyncio", "uvloop"])
def test_serve_answers_on_either_loop(make_project, serve, choice):
    served = serve(make_project(HELLO), "--loop", choice, "-v")
    with urllib.request.urlopen(served.url + "/", timeout=10) as response:
        assert response.read() == b"hello"
    served.child.wait_for(f"event loop: {choice}")
