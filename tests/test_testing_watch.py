"""compute_emu.testing.Emulator and the project watcher: edits to fastly.toml while an
Emulator runs leave its overrides (backends, stores) in force and never restart it; the app's
code is still followed (a syntax error is reported when saved)."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from compute_emu.restart import ENV as RESTART_ENV
from compute_emu.testing import Emulator, MockRequest, MockResponse

APP = """
from compute_emu.sdk import ConfigStore, Request, Response

def main():
    req = Request.from_client()
    if req.get_path() == "/config":
        Response.from_body(ConfigStore.open("settings").get("colour")).send_to_client()
    else:
        req.send("origin").send_to_client()
"""

TOML = """
manifest_version = 3
name = "emu-watch"
[local_server.backends.origin]
url = "http://127.0.0.1:9/"
[local_server.config_stores.settings]
format = "inline-toml"
contents = {colour = "blue"}
"""

EDITED = TOML.replace("127.0.0.1:9/", "127.0.0.1:10/").replace('"blue"', '"green"')
PUSHPIN = TOML + "[local_server.pushpin]\nenable = true\n"

MANIFEST_POLL_WAIT = 1.6  # serve's fastly.toml poll is 1 s: more than one poll after the edit


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "fastly.toml").write_text(TOML)
    (tmp_path / "src" / "main.py").write_text(textwrap.dedent(APP))
    return tmp_path


def answer(req: MockRequest) -> MockResponse:
    return MockResponse(200, {}, "from the mock")


def saw_edit(emu: Emulator, project: Path, edit: str) -> None:
    """Write ``edit`` to fastly.toml, then save a broken Python file: once the watcher
    reports that one, it has seen the fastly.toml edit too (same batch or an earlier one);
    then wait out one poll of serve's backend check."""
    edited_at = time.monotonic()
    (project / "fastly.toml").write_text(edit)
    scratch = project / "src" / "scratch.py"
    deadline = time.monotonic() + 20
    while "scratch.py:1" not in emu.log.text:
        assert time.monotonic() < deadline, emu.log.text
        scratch.write_text(f"def broken(:  # {time.monotonic()}\n")  # saved until seen
        time.sleep(0.5)
    time.sleep(max(0.0, edited_at + MANIFEST_POLL_WAIT - time.monotonic()))


def test_a_fastly_toml_edit_keeps_the_overrides_of_backends_and_stores(project):
    settings = {"settings": {"colour": "red"}}
    with Emulator(project, backends={"origin": answer}, config_stores=settings) as emu:
        assert emu.get("/").text == "from the mock"
        saw_edit(emu, project, EDITED)

        assert emu.get("/").text == "from the mock"
        assert emu.get("/config").text == "red"
        assert "changed" not in emu.log.text  # neither backends nor stores were reloaded


def test_a_pushpin_edit_does_not_restart_the_emulator(project):
    with Emulator(project, backends={"origin": answer}) as emu:
        saw_edit(emu, project, PUSHPIN)

        assert emu.get("/").text == "from the mock"
        assert emu.server.pushpin is None
        assert RESTART_ENV not in os.environ  # no listening socket handed to an exec
