"""The pytest plugin: its fixtures and marker here, and in pytest runs of other projects."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from compute_emu.testing import Emulator

APP = """
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    if req.get_path() == "/origin":
        req.send("origin").send_to_client()
    else:
        Response.from_body("hello " + req.get_path()).send_to_client()
"""
TOML = """manifest_version = 3
name = "plugin"
[local_server.backends.origin]
url = "http://127.0.0.1:9/"
"""


def write_project(path: Path) -> Path:
    (path / "src").mkdir(parents=True, exist_ok=True)
    (path / "fastly.toml").write_text(TOML)
    (path / "src" / "main.py").write_text(textwrap.dedent(APP))
    return path


def test_the_plugin_is_registered_through_the_pytest11_entry_point():
    names = {ep.value for ep in entry_points(group="pytest11")}
    assert "compute_emu.testing.plugin" in names, (
        "compute-emu is not installed in this environment (make setup)"
    )


def test_mock_backend_fixture_with_an_emulator(tmp_path, mock_backend):
    mock = mock_backend(lambda req: f"mocked {req.path}")
    with Emulator(write_project(tmp_path), backends={"origin": mock}) as emu:
        assert emu.get("/origin").text == "mocked /origin"
    assert [r.path for r in mock.requests] == ["/origin"]


def run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in another project, with this environment's Python (the installed plugin)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


USER_TESTS = """
import pytest
from compute_emu.testing import MockResponse

def origin(req):
    if req.path == "/origin" and req.header("x-fail"):
        raise RuntimeError("the mock was asked to fail")
    return MockResponse(headers={"X-From": "mock"}, body="from the mock")

pytestmark = pytest.mark.compute_emu(backends={"origin": origin})

def test_per_test(compute_emu):
    response = compute_emu.get("/origin")
    assert (response.text, response.headers["X-From"]) == ("from the mock", "mock")

def test_per_module(compute_emu_module):
    assert compute_emu_module.get("/x").text == "hello /x"

def test_same_module_emulator(compute_emu_module, request):
    assert compute_emu_module.get("/y").text == "hello /y"
    assert [r.target for r in compute_emu_module.requests] == ["/x", "/y"]
"""

OVERRIDES = """
import pytest

@pytest.fixture
def compute_emu_overrides(mock_backend):
    return {"backends": {"origin": mock_backend(lambda req: "from the fixture")}}

def test_overrides_from_a_fixture(compute_emu):
    assert compute_emu.get("/origin").text == "from the fixture"
"""

FAILING = """
def test_the_mock_raises(compute_emu):
    assert compute_emu.get("/origin", headers={"x-fail": "1"}).status_code == 500
"""


def test_a_project_of_ones_own_uses_the_fixtures(tmp_path):
    project = write_project(tmp_path / "app")
    (project / "tests").mkdir()
    (project / "tests" / "test_app.py").write_text(USER_TESTS)
    (project / "tests" / "test_overrides.py").write_text(OVERRIDES)
    result = run_pytest(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
    # named explicitly as well (pytest_plugins, -p): the same plugin, not registered twice
    again = run_pytest(project, "-p", "compute_emu.testing.plugin")
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_mock_handler_that_raises_fails_the_test_and_the_log_is_shown(tmp_path):
    project = write_project(tmp_path / "app")
    (project / "tests").mkdir()
    (project / "tests" / "test_app.py").write_text(USER_TESTS + FAILING)
    result = run_pytest(project, "-k", "raises")
    assert result.returncode == 1, result.stdout
    assert "the mock backend's handler raised RuntimeError('the mock was asked to fail')" in (
        result.stdout
    )
    assert "--- compute-emu log" in result.stdout and "GET /origin 500" in result.stdout
    # the test's own failure (it passed its asserts), not an error at teardown
    assert "1 failed" in result.stdout and "error" not in result.stdout.splitlines()[-1]
    assert "FAILED tests/test_app.py::test_the_mock_raises - AssertionError" in result.stdout
    assert 'raise RuntimeError("the mock was asked to fail")' in result.stdout  # its traceback


MOCKS_EVERY_WAY = """
import pytest
from compute_emu.testing import Emulator, MockBackend

def broken(req):
    raise ValueError(f"broken at {req.target}")

def test_mock_backend_fixture(mock_backend, project):
    mock = mock_backend(broken)
    with Emulator(project, backends={"origin": mock}) as emu:
        assert emu.get("/origin").status_code == 500

def test_a_function_override(project):
    with Emulator(project, backends={"origin": broken}) as emu:
        assert emu.get("/origin").status_code == 500

def test_a_mock_of_ones_own(project):
    with MockBackend(broken) as mock, Emulator(project, backends={"origin": mock}) as emu:
        assert emu.get("/origin").status_code == 500

def test_two_errors_and_a_failing_assert(project):
    with Emulator(project, backends={"origin": broken}) as emu:
        emu.get("/origin")
        emu.get("/origin?again")
        assert emu.get("/origin").status_code == 200

def test_an_expected_error_is_taken_by_check(mock_backend, project):
    mock = mock_backend(broken)
    with Emulator(project, backends={"origin": mock}) as emu:
        emu.get("/origin")
    with pytest.raises(AssertionError, match="broken at /origin"):
        mock.check()

def test_after_them_nothing_is_left_over(project):
    with Emulator(project) as emu:
        assert emu.get("/x").text == "hello /x"
"""


def test_a_mock_handlers_exception_fails_the_test_that_ran_whoever_made_the_mock(tmp_path):
    project = write_project(tmp_path / "app")
    (project / "tests").mkdir()
    (project / "tests" / "conftest.py").write_text(
        "import pathlib, pytest\n\n@pytest.fixture\ndef project():\n"
        "    return pathlib.Path(__file__).parents[1]\n"
    )
    (project / "tests" / "test_mocks.py").write_text(MOCKS_EVERY_WAY)
    result = run_pytest(project, "-rA")
    out = result.stdout
    assert "4 failed, 2 passed in" in out.splitlines()[-1], out  # and no errors
    sections = dict(re.findall(r"\n_+ (test_\w+) _+\n(.*?)(?=\n_+ test_|\n=+ )", out, re.DOTALL))
    for name in ("mock_backend_fixture", "a_function_override", "a_mock_of_ones_own"):
        section = sections[f"test_{name}"]
        assert (
            "E   AssertionError: the mock backend's handler raised ValueError('broken at /origin')"
        ) in section
        assert 'raise ValueError(f"broken at {req.target}")' in section  # its traceback
    # a test that failed by itself keeps its failure; the handler's errors are notes on it
    failed_anyway = sections["test_two_errors_and_a_failing_assert"]
    assert "assert 500 == 200" in failed_anyway
    assert "and the mock backend's handler raised ValueError('broken at /origin')" in (
        failed_anyway
    )
    assert "ValueError('broken at /origin?again')" in failed_anyway
    assert "PASSED tests/test_mocks.py::test_an_expected_error_is_taken_by_check" in out
    assert "PASSED tests/test_mocks.py::test_after_them_nothing_is_left_over" in out


def test_without_a_fastly_toml_the_error_says_how_to_name_the_project(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_x(compute_emu):\n    pass\n")
    result = run_pytest(tmp_path)
    assert result.returncode != 0
    assert "no fastly.toml at or above" in result.stdout + result.stderr
    assert '@pytest.mark.compute_emu(project="path/to/project")' in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["fanout-forward", "fanout"])
def test_init_from_a_starter_gives_tests_that_pass(tmp_path, name):
    from tests.fanout_support import require_pushpin
    from tests.support.processes import run_compute_emu

    require_pushpin()
    created = run_compute_emu("init", "--from", name, "-p", str(tmp_path / "app"))
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "app" / "tests" / "test_app.py").is_file()
    assert "# the starter's tests" in created.stdout  # next steps name `pytest`
    result = run_pytest(tmp_path / "app")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "skipped" not in result.stdout
