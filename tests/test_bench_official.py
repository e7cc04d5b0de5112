"""The official-SDK row of `make bench` never fails the bench for a missing env: it says why."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench import official_build


def test_without_the_official_env_the_row_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setattr(official_build, "OFFICIAL_PY", tmp_path / "missing" / "python")
    (row,) = official_build.official_rows(tmp_path)
    assert (row.value, row.met) == (None, None)
    assert row.scenario == "official-SDK Flask hello: edit to first answer"
    assert row.note == "not measured: .venv-official is missing (bash scripts/official-env)"
    assert official_build.build_env() == (None, row.note)


def test_a_build_venv_that_cannot_be_made_is_a_note(tmp_path, monkeypatch):
    def fake_python(python: Path, code: str) -> str:
        return "0.0.0" if "version" in code else "/nonexistent/python3"

    monkeypatch.setattr(official_build, "OFFICIAL_PY", Path(__file__))  # exists
    monkeypatch.setattr(official_build, "BUILD_VENV", tmp_path / "venv")
    monkeypatch.setattr(official_build, "_python_of", fake_python)
    tool, why = official_build.build_env()
    assert tool is None
    assert why.startswith("not measured: the build venv could not be made (")
    assert "/nonexistent/python3" in why


def test_make_clean_removes_the_official_envs():
    from tests.support.processes import ROOT

    out = subprocess.run(["make", "-n", "clean"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    removed = out.stdout.split()
    assert {".venv", ".venv-official", ".venv-official-build"} <= set(removed), out.stdout
