"""A corpus of broken fastly.toml files, one per rule, each with the one-line error it gets.

Each ``tests/manifest_corpus/*.toml`` starts with ``# expect: MESSAGE``: the whole message,
with the project directory left out (``fastly.toml:5:1: local_server.backends...``). The
project also holds ``files/`` (the corpus's data files) plus what git cannot store: a FIFO
(``files/fifo``) and sparse files just over the size caps (``files/big.json``,
``files/big.env``). A case is loaded as ``compute-emu serve`` loads it: the manifest, its env
file, then the platform's stores.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from pathlib import Path

import pytest

from compute_emu.errors import UserError
from compute_emu.manifest import load_manifest
from compute_emu.platform import Platform

CORPUS = Path(__file__).parent / "manifest_corpus"
CASES = sorted(CORPUS.glob("*.toml"))
PREFIX = b"# expect: "
DATA_FILE_MAX_BYTES = 16 * 1024 * 1024  # the documented caps
ENV_FILE_MAX_BYTES = 1024 * 1024
DEADLINE = 5.0  # seconds; only "it did not hang" (a FIFO read blocks)


def _sparse(path: Path, size: int) -> None:
    with path.open("wb") as f:
        f.truncate(size)


def corpus_project(directory: Path, case: Path) -> Path:
    """A project directory holding ``case`` as its fastly.toml and the corpus's files."""
    project = directory / "project"
    shutil.copytree(CORPUS / "files", project / "files")
    os.mkfifo(project / "files" / "fifo")
    _sparse(project / "files" / "big.json", DATA_FILE_MAX_BYTES + 1)
    _sparse(project / "files" / "big.env", ENV_FILE_MAX_BYTES + 1)
    shutil.copyfile(case, project / "fastly.toml")
    return project


def first_error(project: Path) -> str:
    """The message of the first UserError loading ``project`` gives (project dir removed)."""
    try:
        manifest = load_manifest(project)
        manifest.env()
        Platform.from_manifest(manifest, environ={})
    except UserError as exc:
        return str(exc).replace(f"{project}/", "")
    return "<no error>"


def expected(case: Path) -> str:
    first = case.read_bytes().split(b"\n", 1)[0]
    assert first.startswith(PREFIX), f"{case.name} must start with a '# expect: ' line"
    return first[len(PREFIX) :].decode("utf-8")


def first_error_in_time(project: Path) -> str:
    """``first_error`` in a thread; a read stuck on the FIFO is released and fails the test."""
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(first_error(project)), daemon=True)
    thread.start()
    thread.join(DEADLINE)
    if thread.is_alive():
        with contextlib.suppress(OSError):
            os.close(os.open(project / "files" / "fifo", os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"loading did not finish within {DEADLINE} s")
    return outcome[0]


@pytest.mark.parametrize("case", CASES, ids=lambda path: path.stem)
def test_broken_manifest_gets_its_one_line_error(tmp_path: Path, case: Path) -> None:
    message = first_error_in_time(corpus_project(tmp_path, case))
    assert "\n" not in message and "\r" not in message
    assert message == expected(case)


def test_the_corpus_has_one_case_per_rule() -> None:
    messages = [expected(case) for case in CASES]
    assert len(CASES) >= 40
    assert len(set(messages)) == len(messages), "two cases expect the same message"
