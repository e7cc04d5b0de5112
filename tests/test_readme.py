"""The README's "Your own app, from scratch", its Fanout part and "Testing your app", run as a
newcomer runs them: in a fresh clone, block by block, as the README writes them.

The blocks run are the ones marked ``<!-- readme-test: ACTION [ARGS] -->`` in the clone's
README.md, so the test reads what a newcomer reads:

- ``run``: shell lines, run to completion (the folder they ``cd`` into is kept);
- ``install``: the environment's set-up. It is not run: a new virtualenv and a pip install
  would fetch every dependency for each run. The commands run instead with this test's own
  environment on PATH (the project's .venv, which has compute-emu's dependencies) and the
  clone first on PYTHONPATH, so the code that runs is the clone's; pip checks, in a dry run,
  that the clone is the installable source the README names;
- ``file PATH``, ``append PATH``, ``insert PATH after LINE``: a file written, added to, or a
  block put after a line, as the README tells;
- ``replace PATH``: the paragraph's first two inline codes, the first changed into the second;
- ``background``: a terminal left running (its last line keeps running); stopped by PID;
- ``expect``: each line ``COMMAND  # OUTPUT``: the command's output must contain OUTPUT
  (repeated for a few seconds: an edit is picked up by the next request after the save);
- ``publish``: the command is repeated until the stream held open before it prints what the
  README says it prints (a subscription takes a moment).

Only the ports differ from the README (tests never take 7676, 7677, 5561 or 8000): the app,
the origin and Pushpin get free ports, written into the commands and files where the README
names 127.0.0.1:7676 and 8000, and given to ``compute-emu serve`` and ``publish`` as flags and
``COMPUTE_EMU_PUBLISH_URL``.

The clone is ``git clone`` of this repository's HEAD plus the working tree's uncommitted
changes to tracked files (so an edit is tested before it is committed; a file never added to
git is missing, as it would be from a clone).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Spawner
from tests.support.ports import free_port
from tests.support.processes import ROOT, Child

MARKER = re.compile(r"^<!-- readme-test: (.+?) -->\n", re.M)
INSTALL = (
    "python3 -m venv .venv && . .venv/bin/activate\n"
    'pip install "/path/to/compute-emu[test]"    # the folder you cloned compute-emu into\n'
)
STREAM_PRINTS = "data: hello"  # what the README says curl prints once "publish" reached it


@dataclass
class Step:
    action: str
    args: str
    text: str  # the code block's content, or the paragraph after the marker


def readme_steps(readme: str) -> list[Step]:
    """The marked steps of ``readme``, in order."""
    steps = []
    for marker in MARKER.finditer(readme):
        action, _, args = marker.group(1).partition(" ")
        rest = readme[marker.end() :]
        if rest.startswith("```"):
            body = rest.split("\n", 1)[1]
            text = body[: body.index("```\n")]
        else:
            text = rest.split("\n\n", 1)[0]
        steps.append(Step(action, args, text))
    return steps


def test_the_marked_steps_are_the_newcomers_path():
    steps = readme_steps((ROOT / "README.md").read_text())
    assert [(s.action, s.args) for s in steps] == [
        ("run", ""),
        ("install", ""),
        ("file", "fastly.toml"),
        ("file", "src/main.py"),
        ("background", ""),
        ("background", ""),
        ("expect", ""),
        ("replace", "src/main.py"),
        ("expect", ""),
        ("append", "fastly.toml"),
        ("insert", "src/main.py after req = Request.from_client()"),
        ("background", ""),
        ("publish", ""),
        ("file", "tests/test_app.py"),
        ("expect", ""),
    ]
    assert steps[1].text == INSTALL
    readme = (ROOT / "README.md").read_text()
    assert f"and curl prints `{STREAM_PRINTS}`" in readme


def wait_for_port(port: int, child: Child, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert child.proc.poll() is None, f"{child.args} exited:\n{child.stdout}\n{child.stderr}"
        assert time.monotonic() < deadline, f"nothing listens on {port}: {child.args}"
        time.sleep(0.05)


def until(check: Callable[[], str | None], what: str, timeout: float = 20.0) -> None:
    """Call ``check`` until it returns None (done); fail with its last answer."""
    deadline = time.monotonic() + timeout
    while (problem := check()) is not None:
        assert time.monotonic() < deadline, f"{what}: {problem}"
        time.sleep(0.2)


class Newcomer:
    """Runs the README's steps in a fresh clone, on free ports."""

    def __init__(self, clone: Path, home: Path, spawn: Spawner) -> None:
        self.clone, self.cwd, self.spawn = clone, home, spawn
        self.app, self.origin = free_port(), free_port()
        self.proxy, self.publish_port = free_port(), free_port()
        self.env = {
            **os.environ,
            # the project's .venv stands in for the README's (see the module's docstring)
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(clone),
            "PYTHONUNBUFFERED": "1",
            "COMPUTE_EMU_PUBLISH_URL": f"http://127.0.0.1:{self.publish_port}",
        }
        for name in [n for n in self.env if n.startswith("PYTEST_") or n == "COMPUTE_EMU_NO_SKIP"]:
            del self.env[name]  # the README's pytest is a newcomer's, not this run's
        self.serve: Child | None = None
        self.stream: Child | None = None

    # -- the README's text, on this test's ports ---------------------------------------------
    def local(self, text: str) -> str:
        text = text.replace("127.0.0.1:7676", f"127.0.0.1:{self.app}")
        text = re.sub(r"\b8000\b", str(self.origin), text)
        flags = (
            f"--addr 127.0.0.1:{self.app} --pushpin-proxy-port {self.proxy} "
            f"--pushpin-publish-port {self.publish_port}"
        )
        return re.sub(r"^compute-emu serve\b", f"compute-emu serve {flags}", text, flags=re.M)

    def shell(self, script: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-e", "-c", self.local(script)],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    # -- the actions -------------------------------------------------------------------------
    def run(self, step: Step) -> None:
        result = self.shell(step.text + "pwd\n")
        assert result.returncode == 0, (step.text, result.stdout, result.stderr)
        self.cwd = Path(result.stdout.splitlines()[-1])

    def install(self, step: Step) -> None:
        source = f"{self.clone}[test]"  # the README's /path/to/compute-emu[test]
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "-q", source],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "does not provide the extra" not in result.stderr
        where = self.shell('python -c "import compute_emu; print(compute_emu.__file__)"')
        assert where.stdout.strip() == str(self.clone / "compute_emu" / "__init__.py")

    def file(self, step: Step) -> None:
        path = self.cwd / step.args
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.local(step.text))

    def append(self, step: Step) -> None:
        path = self.cwd / step.args
        path.write_text(path.read_text() + "\n" + self.local(step.text))

    def insert(self, step: Step) -> None:
        name, _, line = step.args.partition(" after ")
        path = self.cwd / name
        lines = path.read_text().splitlines(keepends=True)
        (at,) = [i for i, text in enumerate(lines) if text.strip() == line]
        lines.insert(at + 1, self.local(step.text))
        path.write_text("".join(lines))

    def replace(self, step: Step) -> None:
        old, new = re.findall(r"`([^`]+)`", step.text)[:2]
        path = self.cwd / step.args
        text = path.read_text()
        assert old in text, f"{old!r} is not in {step.args}"
        path.write_text(text.replace(old, new, 1))

    def background(self, step: Step) -> None:
        *first, last = self.local(step.text).strip().splitlines()
        script = "\n".join([*first, f"exec {last}"])
        # `env` and bash exec the last command: the child's PID is the README command's own
        # (and PYTHONPATH is the clone alone: Child would put this checkout first)
        argv = ["env", f"PYTHONPATH={self.clone}", "bash", "-e", "-c", script]
        child = self.spawn(argv, cwd=self.cwd, env=self.env)
        if "http.server" in last:
            wait_for_port(self.origin, child)
        elif "compute-emu serve" in last:
            child.wait_for(r"^Listening on http://127\.0\.0\.1:")
            self.serve = child
        else:
            self.stream = child

    def expect(self, step: Step) -> None:
        for line in step.text.strip().splitlines():
            command, _, output = line.partition("#")
            output = output.strip()

            def check(command: str = command, output: str = output) -> str | None:
                result = self.shell(command)
                said = result.stdout + result.stderr
                return None if result.returncode == 0 and output in said else said[-3000:]

            until(check, f"{command.strip()!r} never printed {output!r}", timeout=60)

    def publish(self, step: Step) -> None:
        assert self.stream is not None, "no stream is held open before the publish"
        stream = self.stream

        def check() -> str | None:
            if STREAM_PRINTS in stream.stdout_lines:
                return None
            result = self.shell(step.text)
            assert result.returncode == 0, (step.text, result.stdout, result.stderr)
            return f"the stream printed {stream.stdout!r}"

        until(check, f"{step.text.strip()!r} never reached the stream")

    def wait_for_fanout(self) -> None:
        """After fastly.toml enables Pushpin, serve restarts itself: wait until it is back."""
        serve = self.serve
        assert serve is not None

        def check() -> str | None:
            restarted = [line for line in serve.stdout_lines if line.startswith("Listening on")]
            return None if len(restarted) >= 2 else serve.stdout[-3000:] + serve.stderr[-3000:]

        until(check, "serve did not come back with Pushpin", timeout=30)
        serve.wait_for(r"fanout: Pushpin .* proxy on 127\.0\.0\.1:")


def fresh_clone(into: Path) -> Path:
    clone = into / "compute-emu"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    changes = subprocess.run(
        ["git", "diff", "HEAD", "--binary"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    if changes:
        subprocess.run(["git", "apply", "-"], cwd=clone, input=changes, check=True, timeout=60)
    return clone


@pytest.mark.timeout(300)  # ~16 s alone: a clone, three servers, Pushpin twice, a pytest run
def test_your_own_app_from_scratch_fanout_and_tests_as_written(
    spawn: Spawner, tmp_path: Path
) -> None:
    clone = fresh_clone(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    newcomer = Newcomer(clone, home, spawn)
    expected_once = False
    for step in readme_steps((clone / "README.md").read_text()):
        getattr(newcomer, step.action)(step)
        if step.action == "expect" and not expected_once:
            expected_once = True
            newcomer.expect(step)  # the README: `HIT` when the curl is run again (see below)
        if step.action == "append" and "[local_server.pushpin]" in step.text:
            newcomer.wait_for_fanout()
    assert newcomer.cwd == home / "hello"
    assert newcomer.serve is not None
    log = newcomer.serve.stdout
    # what the README says the log shows: the backend call's cache verdict, then a hit
    assert "[send→origin MISS]" in log and "[send→origin HIT]" in log, log
    assert "app reloaded (main.py changed)" in log, log
