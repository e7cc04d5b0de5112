"""compute-emu's output going away while it serves (a closed terminal, a pipe's reader gone)
never stops it: the line is dropped, the descriptor points at /dev/null, serving goes on.

It used to end `serve` with exit status 1 and an unprinted traceback: a closed terminal's
EIO (once in a `make test` run, on the line printed after "Listening on", before the SIGHUP
was handled), or a closed pipe's EPIPE on the next request's log line.
"""

from __future__ import annotations

import errno
import io
import os
import pty
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from compute_emu.log import RequestLog
from tests.support.processes import ROOT, alive, descendants, python_module
from tests.support.pty_child import PtyChild

APP = """
from compute_emu.sdk import Request, Response

def main():
    Request.from_client()
    Response.from_body("up").send_to_client()
"""


def test_a_line_for_a_closed_terminal_is_dropped_and_the_terminal_left() -> None:
    ours = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in (0, 1, 2)}
    master, slave = pty.openpty()
    with open(slave, "w", encoding="utf-8") as terminal:
        os.close(master)  # the terminal window is closed
        log = RequestLog(terminal, terminal, verbose=True)
        log.info("Listening on http://127.0.0.1:7676")
        log.info("  console: http://127.0.0.1:7676/.compute-emu/console/")
        log.error("and an error line too")
        assert os.readlink(f"/proc/self/fd/{slave}") == os.devnull
    # this process's own stdin, stdout and stderr are not that terminal: left alone
    assert {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in (0, 1, 2)} == ours


@pytest.mark.parametrize(
    ("code", "text"), [(errno.ENOSPC, "No space left on device"), (errno.EIO, "Input/output")]
)
def test_a_write_error_that_is_not_a_lost_reader_is_raised(
    code: int, text: str, tmp_path: Path
) -> None:
    """A full disk, or EIO from a file (not a terminal): a real error, not a reader gone."""
    with (tmp_path / "log").open("w") as file:

        class Failing(io.StringIO):
            def fileno(self) -> int:
                return file.fileno()

            def write(self, _text: str) -> int:
                raise OSError(code, text)

        with pytest.raises(OSError, match=text):
            RequestLog(Failing(), Failing(), verbose=False).info("a line")
        assert os.readlink(f"/proc/self/fd/{file.fileno()}") == str(tmp_path / "log")


@contextmanager
def stopped_by_pid(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """Stop ``proc`` by PID whatever the test did, then fail if anything it started is left
    (killed by PID first)."""
    children: set[int] = set()
    try:
        children = descendants(proc.pid)
        yield
    finally:
        children |= descendants(proc.pid)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        left = [pid for pid in children if alive(pid)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"left running: {left}"


def serve_argv(project: Path) -> list[str]:
    return python_module("compute_emu", "serve", "-C", str(project), "--addr", "127.0.0.1:0")


def test_serve_serves_on_when_the_reader_of_its_output_pipe_leaves(
    make_project: Callable[..., Path],
) -> None:
    """`compute-emu serve | head -3`: once head has left, every log line is EPIPE."""
    project = make_project(APP)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        serve_argv(project), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    with stopped_by_pid(proc):
        assert proc.stdout is not None and proc.stderr is not None
        url = ""
        while not url:
            line = proc.stdout.readline().decode()
            assert line, "serve ended before it listened"
            if match := re.search(r"Listening on (http://\S+)", line):
                url = match.group(1)
        proc.stdout.close()  # the reader leaves
        for _ in range(3):  # each request's log line goes to the closed pipe
            assert httpx.get(url + "/", timeout=10).text == "up"
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert b"Traceback" not in proc.stderr.read()


def test_serve_serves_on_when_the_terminal_it_writes_to_is_closed(
    make_project: Callable[..., Path],
) -> None:
    """A terminal that is not serve's controlling terminal (no SIGHUP comes): closed, every
    line written to it is EIO."""
    project = make_project(APP)
    terminal = PtyChild([sys.executable, *serve_argv(project)[1:]])
    with stopped_by_pid(terminal.proc):
        terminal.expect(b"console: http://")  # the line after "Listening on"
        url = re.search(rb"Listening on (http://\S+)", terminal.shown).group(1).decode()
        os.close(terminal.fd)
        for _ in range(3):
            assert httpx.get(url + "/", timeout=10).text == "up"
        assert terminal.proc.poll() is None
        terminal.proc.send_signal(signal.SIGTERM)
        assert terminal.proc.wait(10) == 0
