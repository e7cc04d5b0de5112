"""`compute-emu serve` start-up errors: one clear line, exit status 1, nothing left running."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.processes import run_compute_emu

OK_APP = """
from compute_emu.sdk import Response
def main():
    Response.from_body('ok').send_to_client()
"""


def run_serve(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_compute_emu("serve", "-C", str(project), "--addr", "127.0.0.1:0", *args)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "Listening" not in result.stdout
    first = result.stderr.strip().splitlines()[0]
    assert first.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    return first


def test_no_manifest(tmp_path):
    assert_one_line_error(run_serve(tmp_path), "fastly.toml")


def test_toml_syntax_error_has_line_and_column(make_project):
    project = make_project(OK_APP)
    (project / "fastly.toml").write_text('name = "x"\n[local_server\n')
    line = assert_one_line_error(run_serve(project), "fastly.toml:2:")
    assert len(line) < 300


def test_unknown_backend_key_names_the_key_path(make_project):
    project = make_project(
        OK_APP, backends={"origin": {"url": "http://localhost:3000", "overide_host": "x"}}
    )
    assert_one_line_error(
        run_serve(project), "local_server.backends.origin.overide_host", "override_host"
    )


def test_missing_backend_url(make_project):
    project = make_project(OK_APP, extra="[local_server.backends.origin]\noverride_host = 'x'")
    assert_one_line_error(
        run_serve(project), "local_server.backends.origin", 'missing required key "url"'
    )


def test_manifest_version_too_new(make_project):
    project = make_project(OK_APP)
    text = (
        (project / "fastly.toml")
        .read_text()
        .replace("manifest_version = 3", "manifest_version = 4")
    )
    (project / "fastly.toml").write_text(text)
    assert_one_line_error(run_serve(project), "manifest_version")


@pytest.mark.parametrize(
    ("source", "fragments"),
    [
        (None, ["main.py", "not found"]),
        ("def main(:\n    pass\n", ["main.py:1", "syntax error"]),
        (
            "import no_such_module_here\ndef main():\n    pass\n",
            ["ModuleNotFoundError", "no_such_module_here"],
        ),
        ("x = 1\n", ["must define a function main()"]),
    ],
)
def test_broken_app_is_a_startup_error(make_project, source, fragments):
    project = make_project(OK_APP)
    if source is None:
        (project / "src" / "main.py").unlink()
    else:
        (project / "src" / "main.py").write_text(source)
    assert_one_line_error(run_serve(project), *fragments)


def test_port_in_use_names_the_port(make_project):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        project = make_project(OK_APP)
        result = run_compute_emu("serve", "-C", str(project), "--addr", f"127.0.0.1:{port}")
    assert_one_line_error(result, f"port {port}", "already in use", f"pid {os.getpid()}")


@pytest.mark.parametrize("addr", ["7676", "localhost:", "127.0.0.1:99999", ":80"])
def test_bad_addr(make_project, addr):
    project = make_project(OK_APP)
    result = run_compute_emu("serve", "-C", str(project), "--addr", addr)
    assert_one_line_error(result, "--addr")


def test_env_selects_another_manifest_and_file_overrides_entry(make_project, serve):
    project = make_project(OK_APP)
    (project / "fastly.staging.toml").write_text(
        'manifest_version = 3\nname = "staging"\n[scripts]\nentry = "app/other.py"\n'
    )
    (project / "app").mkdir()
    (project / "app" / "other.py").write_text(OK_APP.replace("'ok'", "'other'"))
    (project / "third.py").write_text(OK_APP.replace("'ok'", "'third'"))
    assert httpx.get(serve(project, "--env", "staging").url).text == "other"
    assert httpx.get(serve(project, "--file", str(project / "third.py")).url).text == "third"
    assert httpx.get(serve(project).url).text == "ok"


def test_help_lists_serve():
    result = run_compute_emu("--help")
    assert result.returncode == 0 and "serve" in result.stdout
