"""fastly.toml followed while serving: an edit is seen however early it comes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import anyio
import pytest

from compute_emu.log import RequestLog
from compute_emu.serve import Server, ServeSettings
from tests.support.cache_rig import Lines

APP = """
from compute_emu.sdk import Request, Response

def main():
    Request.from_client()
    Response.from_body("ok").send_to_client()
"""


async def edit_on_ready(project: Path, manifest: str, appended: str, expected: str) -> None:
    """Serve ``project``; append ``appended`` to its fastly.toml from the on-ready callback
    (before any watcher has taken a step); wait for a log line containing ``expected``."""
    (project / "src").mkdir()
    (project / "src" / "main.py").write_text(textwrap.dedent(APP))
    toml = project / "fastly.toml"
    toml.write_text(manifest)
    log = Lines()
    server = Server(
        ServeSettings(project_dir=project, port=0),
        RequestLog(log, log, colour=False),  # type: ignore[arg-type]
    )

    def edit(_address: tuple[str, int]) -> None:
        with toml.open("a") as f:
            f.write(appended)

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: server.run(edit, handle_signals=False))
        with anyio.fail_after(5):
            while not log.find(expected):
                await anyio.sleep(0.02)
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_backend_added_as_the_server_announces_itself_is_picked_up(tmp_path: Path) -> None:
    # The backends' poll took the mtime at its first step, after the edit, as the one served.
    await edit_on_ready(
        tmp_path,
        'manifest_version = 3\nname = "watched"\n'
        '[local_server.backends.origin]\nurl = "http://127.0.0.1:9/"\n',
        '[local_server.backends.added]\nurl = "http://127.0.0.1:9/added"\n',
        "fastly.toml changed: backends are now origin, added",
    )


@pytest.mark.anyio
async def test_a_store_added_as_the_server_announces_itself_is_loaded(tmp_path: Path) -> None:
    # The OS file watch was not in place yet when the edit landed: the event was lost.
    await edit_on_ready(
        tmp_path,
        'manifest_version = 3\nname = "watched"\n',
        '[local_server.config_stores.settings]\nformat = "inline-toml"\n'
        '[local_server.config_stores.settings.contents]\ncolour = "blue"\n',
        "fastly.toml changed: stores reloaded",
    )
