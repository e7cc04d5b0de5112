"""compute_emu.testing.Emulator end to end: requests, the log, stores, backends, lifecycle."""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path

import httpx
import pytest

from compute_emu.errors import ManifestError
from compute_emu.testing import SELF, Emulator, MockRequest, MockResponse

APP = """
import os
from compute_emu.sdk import ConfigStore, KVStore, Request, Response, SecretStore

def main():
    req = Request.from_client()
    path = req.get_path()
    print("handling", path)
    if path == "/kv":
        store = KVStore.open("things")
        seen = store.lookup("seed").take_body_bytes()
        store.insert("written", b"by the app " + seen)
        Response.from_body("ok").send_to_client()
    elif path == "/config":
        value = ConfigStore.open("settings").get("colour")
        secret = SecretStore.open("vault").get("token").plaintext()
        Response.from_body(f"{value} {secret.decode()} {os.environ.get('MODE')}").send_to_client()
    elif path in ("/loop", "/looped"):
        # each hop another URL: the cache collapses concurrent fetches of one URL
        req.set_path(path + "ed")
        req.send("loop" if path == "/loop" else "origin").send_to_client()
    else:
        req.send("origin").send_to_client()
"""

TOML = """
manifest_version = 3
name = "emu-test"
[local_server.backends.origin]
url = "http://127.0.0.1:9/"
override_host = "origin.example"
[local_server.backends.loop]
url = "http://127.0.0.1:9/"
[local_server.kv_stores]
things = [{key = "seed", data = "from fastly.toml"}]
[local_server.config_stores.settings]
format = "inline-toml"
contents = {colour = "blue"}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("emu") / "project"
    (path / "src").mkdir(parents=True)
    (path / "fastly.toml").write_text(TOML)
    (path / "src" / "main.py").write_text(textwrap.dedent(APP))
    return path


def echo(req: MockRequest) -> MockResponse:
    return MockResponse(201, {"X-Echo": req.header("Host") or ""}, f"{req.method} {req.target}")


def test_requests_go_to_a_mock_backend_and_the_log_keeps_each_with_its_output(project):
    with Emulator(project, backends={"origin": echo}) as emu:
        first = emu.get("/a?x=1")
        second = emu.post("/b", content=b"body")

        assert (first.status_code, first.text) == (201, "GET /a?x=1")
        assert first.headers["X-Echo"] == "origin.example"  # fastly.toml's override_host kept
        entry = emu.log_of(first)
        assert (entry.method, entry.target, entry.status) == ("GET", "/a?x=1", 201)
        assert entry.output == ["handling /a"]
        assert entry.notes[0].startswith("send→origin")
        assert emu.log_of(second).output == ["handling /b"]
        assert [r.target for r in emu.requests] == ["/a?x=1", "/b"]
        received = emu.mocks["origin"].requests
        assert [(r.method, r.target, r.body) for r in received] == [
            ("GET", "/a?x=1", b""),
            ("POST", "/b", b"body"),
        ]
        assert "GET /a?x=1 201" in emu.log.text
    assert "compute-emu serving" in emu.log.text


def test_stores_are_seeded_and_read_back(project):
    with Emulator(
        project,
        kv_stores={"things": {"seed": b"\x00bytes"}, "extra": {"k": "v"}},
        config_stores={"settings": {"colour": "green"}},
        secret_stores={"vault": {"token": "s3cret"}},
        env_vars={"MODE": "test"},
    ) as emu:
        assert emu.get("/kv").text == "ok"
        assert emu.kv_get("things", "written") == b"by the app \x00bytes"
        assert emu.kv_items("extra") == {"k": b"v"}
        assert emu.get("/config").text == "green s3cret test"
        assert emu.config_store("settings") == {"colour": "green"}
        assert emu.secret("vault", "token") == b"s3cret"
        with pytest.raises(KeyError, match="known: extra, things"):
            emu.kv("nope")


def test_without_overrides_the_manifest_is_as_written(project):
    with Emulator(project) as emu:
        emu.get("/kv")
        assert emu.kv_get("things", "written") == b"by the app from fastly.toml"
        assert emu.config_store("settings") == {"colour": "blue"}


def test_a_backend_can_point_at_another_emulator_or_at_itself(project, tmp_path):
    with Emulator(project, backends={"origin": echo}) as upstream:
        backends = {"origin": upstream.url + "/", "loop": SELF}
        with Emulator(project, backends=backends) as emu:
            assert emu.get("/via").text == "GET /via"  # emu -> upstream -> its mock
            # /loop goes to "loop", this same emulator, which sends it on to the other one
            assert emu.get("/loop").text == "GET /loopeded"
            assert upstream.log_of(upstream.get("/direct")).output == ["handling /direct"]


def test_a_mock_handler_that_raises_answers_500_and_fails_check(project):
    def broken(req: MockRequest) -> MockResponse:
        raise ValueError("oops")

    emu = Emulator(project, backends={"origin": broken})
    with emu:
        response = emu.get("/x")
        assert response.status_code == 500
        assert "ValueError: oops" in response.text
    with pytest.raises(AssertionError, match="oops"):
        emu.mocks["origin"].check()


def test_a_bad_override_fails_like_a_bad_manifest(project):
    with pytest.raises(ManifestError, match=r"local_server\.backends\.origin\.url"):
        Emulator(project, backends={"origin": "ftp://nowhere/"}).start()


def test_streamed_mock_bodies_arrive_in_pieces(project):
    gate = threading.Event()

    def streaming(req: MockRequest) -> MockResponse:
        def body():
            yield b"first\n"
            gate.wait(10)
            yield b"second\n"

        return MockResponse(headers={"Content-Type": "text/plain"}, body=body())

    with Emulator(project, backends={"origin": streaming}) as emu:
        stream = emu.stream("/s").wait_open()
        assert stream.next_line() == "first"
        gate.set()
        assert stream.next_line() == "second"


@pytest.mark.anyio
async def test_async_with_and_an_async_client(project):
    async with Emulator(project, backends={"origin": echo}) as emu:
        async with emu.async_client() as client:
            response = await client.get("/async")
        assert response.text == "GET /async"


def test_everything_is_stopped_on_exit(project):
    threads_before = set(threading.enumerate())
    with Emulator(project, backends={"origin": echo}) as emu:
        emu.get("/")
        mock_url = emu.mocks["origin"].url
        url = emu.url
    for where in (url, mock_url):
        with pytest.raises(httpx.ConnectError):
            httpx.get(where, timeout=2, trust_env=False)
    left = {t for t in set(threading.enumerate()) - threads_before if t.is_alive()}
    # the app's worker threads end on their own (idle ones exit); no loop or server remains
    assert not [t for t in left if "mock backend" in t.name or "portal" in t.name.lower()]
    emu.stop()  # idempotent
