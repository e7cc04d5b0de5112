"""An app's traceback is drawn as wide as the terminal it shows in (COLUMNS if set), and 100
columns when the output is no terminal."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import termios
from pathlib import Path

import httpx
import pytest

from compute_emu.runtime.app_errors import DEFAULT_WIDTH, MIN_WIDTH, output_width, terminal_text
from tests.support.processes import python_module
from tests.support.pty_child import PtyChild

APP = """\
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    raise ValueError("a message long enough to be wrapped on a narrow terminal, " * 2)
"""


def set_width(fd: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))


def raised(path: Path) -> BaseException:
    namespace: dict[str, object] = {}
    code = compile("def f():\n    raise ValueError('x' * 300)\n", str(path), "exec")
    exec(code, namespace)
    try:
        namespace["f"]()  # type: ignore[operator]
    except ValueError as exc:
        return exc
    raise AssertionError("f() did not raise")


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


@pytest.mark.parametrize("columns", [60, 132])
def test_columns_sets_the_width(monkeypatch, tmp_path, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    assert output_width() == columns
    text = terminal_text(raised(tmp_path / "main.py"), tmp_path / "main.py")
    assert widest(text) == columns  # the frame's box spans the width


def test_a_terminal_gives_its_width_and_anything_else_the_default(monkeypatch, tmp_path):
    monkeypatch.delenv("COLUMNS", raising=False)
    master, slave = pty.openpty()
    try:
        set_width(slave, 72)
        with open(slave, "w", closefd=False) as terminal:
            assert output_width(terminal) == 72
            set_width(slave, 20)  # resized (too narrow to draw in): the minimum
            assert output_width(terminal) == MIN_WIDTH
    finally:
        os.close(master)
        os.close(slave)
    assert output_width(io.StringIO()) == DEFAULT_WIDTH
    with open(os.devnull, "w") as null:
        assert output_width(null) == DEFAULT_WIDTH
    text = terminal_text(raised(tmp_path / "main.py"), tmp_path / "main.py", width=50)
    assert widest(text) == 50


def test_serve_on_a_narrow_terminal_draws_the_traceback_to_fit(make_project, monkeypatch):
    project = make_project(APP)
    monkeypatch.delenv("COLUMNS", raising=False)  # an xdist worker has COLUMNS=80
    child = PtyChild(
        python_module("compute_emu", "serve", "-C", str(project), "--addr", "127.0.0.1:0"),
        env={"NO_COLOR": "1"},
    )
    try:
        set_width(child.fd, 64)
        child.expect(b"Listening on http://")
        url = re.search(rb"Listening on (http://\S+)", child.shown)
        assert url is not None
        start = len(child.shown)
        assert httpx.get(url.group(1).decode(), trust_env=False).status_code == 500
        child.expect(b"ValueError")
        child.expect(b"wrapped on a narrow terminal")
        shown = child.shown[start:].decode("utf-8", "replace").replace("\r", "")
        drawn = [line for line in shown.splitlines() if line.startswith(("╭", "│", "╰"))]
        assert drawn, shown
        assert max(len(line) for line in drawn) == 64, shown
    finally:
        child.stop()
