"""What a newcomer is told to run works where they run it: `init --help` lists every starter and
`--from` completes their names; init's next steps install pytest where they run it, and give
an official-SDK project its own environment; compute-emu is installed from where it came from
(it is not on PyPI)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from compute_emu import init as init_module
from compute_emu import install_source as source_module
from compute_emu.cli import main
from compute_emu.install_source import PLACEHOLDER, install_source, install_spec
from compute_emu.official.detect import check_interpreter
from compute_emu.starters import builtin_starters, describe
from tests.support.processes import ROOT


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_init_help_lists_every_builtin_starter_with_its_description():
    help_text = " ".join(run("init", "--help").split())
    starters = builtin_starters()
    assert set(starters) >= {"fanout", "fanout-forward", "fanout-forward-official"}
    for name, path in starters.items():
        assert f"{name} {describe(path)}" in help_text, name
    assert describe(starters["fanout"]).startswith("Routes requests through Fanout")


def complete(words: str, shell: str = "bash") -> list[str]:
    env = {
        **os.environ,
        "_COMPUTE_EMU_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    result = subprocess.run(
        [Path(sys.executable).parent / "compute-emu"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_from_completes_the_builtin_starters_and_else_folders():
    names = sorted(builtin_starters())
    assert complete("compute-emu init --from ") == [f"plain,{name}" for name in names]
    assert complete("compute-emu init --from fanout-f") == [
        "plain,fanout-forward",
        "plain,fanout-forward-official",
    ]
    assert complete("compute-emu init -f fanout-forward-o") == ["plain,fanout-forward-official"]
    assert complete("compute-emu init --from ./my") == ["dir,./my"]  # the shell lists folders
    zsh = complete("compute-emu init --from fan", "zsh")  # zsh shows the descriptions
    assert describe(builtin_starters()["fanout"]) in zsh


def steps_of(output: str) -> list[str]:
    return [line.strip() for line in output.split("Next steps:\n", 1)[1].splitlines()]


def test_next_steps_install_pytest_where_it_is_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "pytest" in steps_of(run("init", "--from", "fanout", "-p", "a"))[-1]
    monkeypatch.setattr(init_module, "has_pytest", lambda: False)
    steps = steps_of(run("init", "--from", "fanout", "-p", "b"))
    assert [" ".join(step.split()) for step in steps[-2:]] == [
        "pip install 'pytest>=8' # pytest is not installed here yet",
        "pytest # the starter's tests (compute_emu.testing; origin mocked)",
    ]


def test_next_steps_of_an_official_project_make_its_environment_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    steps = steps_of(run("init", "--from", "fanout-forward-official", "-p", "off"))
    spec = shlex.quote(f"{ROOT}[test]")
    assert steps[:4] == [
        "cd off",
        "# the official SDK needs Python 3.12+ (and this compute-emu, with pytest)",
        f"python3.12 -m venv .venv && .venv/bin/pip install {spec} 'fastly-compute>=0.1.3,<0.2'",
        ".venv/bin/pip install -r origin/requirements.txt  # what the origin needs",
    ]
    assert [step.split("#")[0].strip() for step in steps[4:]] == [
        ".venv/bin/python origin/app.py",
        ".venv/bin/compute-emu serve",
        '.venv/bin/compute-emu publish test "hello"',
        ".venv/bin/python -m pytest",
    ]


def test_the_install_source_is_this_checkout():
    assert install_source() == str(ROOT)
    assert install_spec() == shlex.quote(str(ROOT))
    assert install_spec("test") == shlex.quote(f"{ROOT}[test]")


class _Distribution:
    def __init__(self, record: object) -> None:
        self.record = record

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return None if self.record is None else json.dumps(self.record)


@pytest.mark.parametrize(
    ("record", "source"),
    [
        (  # pip install git+https://...
            {
                "url": "https://example.com/compute-emu.git",
                "vcs_info": {"vcs": "git", "commit_id": "abc123"},
            },
            "git+https://example.com/compute-emu.git@abc123",
        ),
        ({"url": "https://example.com/compute_emu-0.1.0.whl", "archive_info": {}}, None),
        ({"url": "file:///nonexistent/compute-emu", "dir_info": {}}, None),
        (None, None),
    ],
)
def test_an_installed_copy_is_installed_again_from_where_pip_got_it(monkeypatch, record, source):
    monkeypatch.setattr(source_module, "_checkout", lambda root: False)
    monkeypatch.setattr(source_module.metadata, "distribution", lambda name: _Distribution(record))
    if record is not None and "archive_info" in record:
        source = record["url"]
    assert install_source() == source
    if source is None:
        assert install_spec("test") == shlex.quote(f"{PLACEHOLDER}[test]")
    elif source.startswith("git+"):
        assert install_spec("test") == shlex.quote(f"compute-emu[test] @ {source}")


def test_a_folder_pip_recorded_is_used(monkeypatch, tmp_path):
    monkeypatch.setattr(source_module, "_checkout", lambda root: False)
    record = {"url": tmp_path.as_uri(), "dir_info": {"editable": False}}
    monkeypatch.setattr(source_module.metadata, "distribution", lambda name: _Distribution(record))
    assert install_source() == str(tmp_path)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="compute-emu's own Python is 3.11")
@pytest.mark.timeout(120)
def test_the_wrong_python_message_gives_a_pip_command_that_works(tmp_path):
    with pytest.raises(Exception) as caught:
        check_interpreter(tmp_path)
    message = str(caught.value)
    command = message.split("Python 3.12+ environment: ", 1)[1].split(" (plus", 1)[0]
    assert command == (
        f"python3.12 -m venv .venv && .venv/bin/pip install {shlex.quote(str(ROOT))} "
        "'fastly-compute>=0.1.3,<0.2'"
    )
    assert "pip install compute-emu " not in message  # not on PyPI
    # pip takes the source it names (a dry run: nothing is installed)
    source = shlex.split(command.split("pip install ", 1)[1])[0]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "-q", source],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode == 0, result.stderr


def test_the_test_extra_brings_pytest_and_the_guides_install_it():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert extras["optional-dependencies"]["test"] == ["pytest>=8"]
    readme = (ROOT / "README.md").read_text()
    assert 'pip install "/path/to/compute-emu[test]"' in readme
    official = (ROOT / "starters" / "fanout-forward-official" / "README.md").read_text()
    assert "pip install '/path/to/compute-emu[test]'" in official
    assert "pip install compute-emu " not in official  # not on PyPI
