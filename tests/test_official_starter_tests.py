"""The official-SDK fanout starter ships tests that pass in a project `init` made from it.

As for the other starters (tests/test_testing_plugin.py), but under .venv-official's Python
(3.12+, fastly-compute, pytest): compute_emu.testing serves the raw ``HttpIncoming`` app in the
test's process, with Pushpin, and the origin mocked.
"""

from __future__ import annotations

import os
import subprocess

from tests.fanout_support import require_pushpin
from tests.official_support import SETUP, require_official_env
from tests.support.processes import run_compute_emu


def test_init_from_the_official_fanout_starter_gives_tests_that_pass(tmp_path):
    python = require_official_env()
    require_pushpin()
    app = tmp_path / "app"
    created = run_compute_emu("init", "--from", "fanout-forward-official", "-p", str(app))
    assert created.returncode == 0, created.stderr
    assert (app / "tests" / "test_app.py").is_file()
    assert "# the starter's tests" in created.stdout  # next steps name `pytest`
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    result = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert "No module named pytest" not in output, f"pytest is missing in .venv-official: {SETUP}"
    assert result.returncode == 0, output
    assert "2 passed" in result.stdout and "skipped" not in result.stdout, output
