"""Two servers in one process: nothing process-wide is written, each app sees its own world."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import anyio
import httpx
import pytest

from compute_emu.log import RequestLog
from compute_emu.serve import Server, ServeSettings

APP = """
import os
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    print("printed by", os.environ["WHO"])
    os.environ["WRITTEN_BY_APP"] = "yes"  # stays in this instance's layer
    Response.from_body(f"{os.environ['WHO']} {os.environ['FASTLY_TRACE_ID']}").send_to_client()
"""


def project(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    (path / "src").mkdir(parents=True)
    (path / "fastly.toml").write_text(
        f'manifest_version = 3\nname = "{name}"\n[scripts]\nenv_vars = ["WHO={name}"]\n'
    )
    (path / "src" / "main.py").write_text(textwrap.dedent(APP))
    return path


class Captured:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@pytest.mark.anyio
async def test_two_servers_in_one_process_keep_their_env_and_output_apart(tmp_path: Path) -> None:
    environ_before = dict(os.environ)
    outputs = {name: Captured() for name in ("one", "two")}
    servers = {
        name: Server(
            ServeSettings(project_dir=project(tmp_path, name), port=0),
            RequestLog(outputs[name], outputs[name], colour=False),  # type: ignore[arg-type]
        )
        for name in outputs
    }
    ready: dict[str, tuple[str, int]] = {}
    async with anyio.create_task_group() as tg:
        for name, server in servers.items():
            tg.start_soon(
                lambda s=server, n=name: s.run(
                    lambda a: ready.__setitem__(n, a), handle_signals=False
                )
            )
        with anyio.fail_after(10):
            while len(ready) < 2:
                await anyio.sleep(0.01)
        async with httpx.AsyncClient() as client:
            bodies = {}
            for name, (host, port) in ready.items():
                bodies[name] = [(await client.get(f"http://{host}:{port}/")).text for _ in range(2)]
        tg.cancel_scope.cancel()

    for name, texts in bodies.items():
        assert all(text.startswith(f"{name} ") for text in texts)
        trace_ids = {text.split()[1] for text in texts}
        assert len(trace_ids) == 2 and all(len(t) == 32 for t in trace_ids)  # one per request
        printed = "".join(outputs[name].lines)
        assert f"| printed by {name}" in printed
        other = "two" if name == "one" else "one"
        assert f"printed by {other}" not in printed
    # the process environment is as it was: no WHO, no FASTLY_*, nothing the apps wrote
    assert dict(os.environ) == environ_before
    assert "WRITTEN_BY_APP" not in os.environ
    assert sys.stdout.write  # still a working stream
