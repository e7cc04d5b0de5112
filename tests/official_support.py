"""Helpers for the tests of official-SDK apps: the Python 3.12+ env and its compute-emu.

compute-emu's tests run on 3.11; the official ``fastly-compute`` SDK needs 3.12 or newer, so
these tests run ``compute-emu serve`` with ``.venv-official/bin/python`` (made by
``scripts/official-env``, which ``make test`` runs) as a child process.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import Served, Spawner
from tests.support.processes import ROOT
from tests.support.sdk_hosts import OFFICIAL_PY as OFFICIAL_PY
from tests.support.sdk_hosts import SETUP as SETUP
from tests.support.sdk_hosts import require_official_env

EXAMPLES = Path(__file__).parent / "official_examples"


def official_project(
    directory: Path,
    source: str,
    *,
    entry: str = "main",
    backends: dict[str, str] | None = None,
    extra: str = "",
) -> Path:
    """An official-SDK project: pyproject.toml naming ``entry``, ``entry``.py, fastly.toml."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=3.12"\n\n'
        f'[tool.fastly-compute]\nentry = "{entry}"\n'
    )
    lines = ["manifest_version = 3", 'name = "app"', 'language = "other"', extra]
    for name, url in (backends or {}).items():
        lines += [f"[local_server.backends.{name}]", f'url = "{url}"']
    lines += ["[scripts]", 'build = "uv run fastly-compute-py build"']
    (directory / "fastly.toml").write_text("\n".join(lines) + "\n")
    (directory / f"{entry}.py").write_text(source)
    return directory


def example_project(directory: Path, name: str, **kwargs: object) -> Path:
    """One of the SDK's published examples (tests/official_examples) as a project."""
    source = (EXAMPLES / f"{name}.py.txt").read_text()
    return official_project(directory / name, source, entry=name, **kwargs)  # type: ignore[arg-type]


def serve_official(
    spawn: Spawner,
    project: Path,
    *args: str,
    timeout: float = 30,
    env: dict[str, str] | None = None,
) -> Served:
    """`compute-emu serve` for ``project`` under the 3.12+ env, on a free port."""
    python = require_official_env()
    child = spawn(
        [
            str(python),
            "-m",
            "compute_emu",
            "serve",
            "-C",
            str(project),
            "--addr",
            "127.0.0.1:0",
            *args,
        ],
        env=env,
    )
    url = child.wait_for(r"Listening on (http://\S+)", timeout=timeout).group(1)
    return Served(url, child)


def run_official(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with the env's python (for checks of the bindings themselves)."""
    python = require_official_env()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT
    )
