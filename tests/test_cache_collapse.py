"""Request collapsing never makes a request wait for itself: two sends of one URL from one
main() (the first body not read yet), and a fetch under way that takes longer than the
backend's first-byte timeout (a backend that is this server again would wait for ever)."""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.cache_rig import Origin, Running, serve_for
from tests.support.sdk_hosts import BOTH

SDK_HOSTS = BOTH  # each test also runs on the SDK's Wasm host (tests/support/sdk_hosts.py)

APP = """
from compute_emu.sdk import Request, Response


def main():
    client = Request.from_client()
    url = "http://origin" + client.get_path() + "?" + (client.get_query_str() or "")
    backend = client.get_header("x-backend") or "origin"
    if client.get_header("x-twice"):
        first = Request.get(url).send(backend)
        second = Request.get(url).send(backend)  # the first body is not read yet
        text = second.take_body_str() + " | " + first.take_body_str()
        Response.from_body(text).send_to_client()
        return
    Request.get(url).send(backend).send_to_client()
"""


@pytest.fixture(scope="module")
def origin(sdk_host: str) -> Iterator[Origin]:  # one per host: its hit counts start at 0
    server = Origin()
    yield server
    server.close()


@pytest.fixture(scope="module")
def emu(
    tmp_path_factory: pytest.TempPathFactory, origin: Origin, sdk_host: str
) -> Iterator[Running]:
    project = tmp_path_factory.mktemp("collapse") / "proj"
    (project / "src").mkdir(parents=True)
    (project / "fastly.toml").write_text(
        'manifest_version = 3\nname = "collapse"\n'
        f'[local_server.backends.origin]\nurl = "{origin.url}"\n'
        f'[local_server.backends.quick]\nurl = "{origin.url}"\nfirst_byte_timeout_ms = 300\n'
    )
    (project / "src" / "main.py").write_text(textwrap.dedent(APP))
    yield from serve_for(sdk_host, project)


def until(check, what: str, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_two_sends_of_one_url_in_one_main_do_not_wait_for_each_other(
    emu: Running, origin: Origin
) -> None:
    response = emu.get("/twice?cc=max-age%3D60", x_twice="1")
    assert response.status_code == 200
    assert response.text == "/twice #2 lang= | /twice #1 lang="
    assert origin.hits["/twice"] == 2


def test_a_waiter_goes_to_the_backend_itself_after_its_first_byte_timeout(
    emu: Running, origin: Origin
) -> None:
    path = "/held?cc=max-age%3D60&gate=held"
    answers: dict[str, str] = {}

    def get(name: str) -> None:
        with httpx.Client(base_url=emu.url, timeout=20) as client:
            answers[name] = client.get(path, headers={"x-backend": "quick"}).text

    first = threading.Thread(target=get, args=("first",))
    first.start()
    until(lambda: origin.hits["/held"] == 1, "the first fetch")
    second = threading.Thread(target=get, args=("second",))
    second.start()
    # the first fetch's body is held by the origin: the second stops waiting for it
    until(lambda: origin.hits["/held"] == 2, "the second request's own fetch")
    origin.release("held")
    first.join(20)
    second.join(20)
    assert answers == {"first": "first;/held #1 lang=", "second": "first;/held #2 lang="}
