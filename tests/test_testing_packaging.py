"""Packaging for users: --version, shell completion, py.typed, LICENSE, an SDK mypy can see."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from compute_emu import __version__
from tests.support.processes import ROOT, run_compute_emu


def test_version():
    result = run_compute_emu("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"compute-emu, version {__version__}"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == __version__


def test_click_shell_completion_scripts():
    for shell, marker in (("bash", "complete -o nosort"), ("zsh", "compdef"), ("fish", "complete")):
        result = subprocess.run(
            [Path(sys.executable).parent / "compute-emu"],  # the installed command
            env={**os.environ, "_COMPUTE_EMU_COMPLETE": f"{shell}_source"},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert marker in result.stdout, (shell, result.stdout, result.stderr)


def test_py_typed_and_license_are_shipped():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert (ROOT / "compute_emu" / "py.typed").is_file()
    assert pyproject["tool"]["setuptools"]["package-data"]["compute_emu"] == ["py.typed"]
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert pyproject["project"]["license"] == "Apache-2.0"


def test_mypy_sees_the_sdk_types_from_a_project_elsewhere(tmp_path):
    """The editable install (make setup: editable_mode=compat) is a plain path mypy follows;
    with the default import-hook install mypy finds no compute_emu and types go Any."""
    app = tmp_path / "app.py"
    app.write_text(
        textwrap.dedent(
            """
            from compute_emu.sdk import Request

            def main() -> None:
                req = Request.from_client()
                reveal_type(req.get_method())
                req.get_method() + 1
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), str(app)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = result.stdout
    assert 'Revealed type is "builtins.str"' in out or 'Revealed type is "str"' in out, out
    assert 'Unsupported operand types for + ("str" and "int")' in out, out
    assert "missing library stubs or py.typed" not in out, out
    assert Path(sys.prefix, "lib").exists()
