"""compute_emu.testing and the cache: purge and the TTL clock, through compute-emu's own
/.compute-emu/ endpoints (what `compute-emu purge` uses), so the real cache is exercised."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from compute_emu.testing import Emulator, MockRequest, MockResponse

APP = """
from compute_emu.sdk import Request

def main():
    Request.from_client().send("origin").send_to_client()
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cache") / "project"
    (path / "src").mkdir(parents=True)
    (path / "fastly.toml").write_text(
        'manifest_version = 3\nname = "cache"\n'
        '[local_server.backends.origin]\nurl = "http://127.0.0.1:9/"\n'
    )
    (path / "src" / "main.py").write_text(textwrap.dedent(APP))
    return path


def origin(req: MockRequest) -> MockResponse:
    headers = {"Cache-Control": "max-age=60", "Surrogate-Key": f"page {req.path.strip('/')}"}
    return MockResponse(headers=headers, body=f"{req.path} fetched")


def fetches(emu: Emulator) -> int:
    return len(emu.mocks["origin"].requests)


def test_purge_and_advance_clock(project):
    with Emulator(project, backends={"origin": origin}) as emu:
        emu.get("/a")
        emu.get("/a")
        assert fetches(emu) == 1  # the second was a hit
        assert "HIT" in " ".join(emu.requests[-1].notes)

        assert emu.purge("a") == 1  # by surrogate key
        emu.get("/a")
        assert fetches(emu) == 2

        emu.advance_clock(61)  # past max-age: stale, fetched again
        emu.get("/a")
        assert fetches(emu) == 3

        emu.get("/b")
        assert emu.purge() == 2  # everything
        emu.get("/b")
        assert fetches(emu) == 5


def test_cache_off(project):
    with Emulator(project, backends={"origin": origin}, cache=False) as emu:
        emu.get("/a")
        emu.get("/a")
        assert fetches(emu) == 2
