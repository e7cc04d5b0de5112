"""Process and port handling through psutil: nothing reads /proc itself (so macOS works too)."""

from __future__ import annotations

import builtins
import os
import pathlib
import socket
import sys
import tempfile
from pathlib import Path

import pytest

from compute_emu import ports
from compute_emu.pushpin import processes
from compute_emu.pushpin.processes import Owner, reap_orphans, start_time, write_state
from tests.support.processes import alive


@pytest.fixture
def no_proc_reads(monkeypatch):
    """compute-emu's own code may not read /proc (macOS has none): pathlib reads of it fail.
    psutil may read it, as it does on Linux through open() and os.listdir()."""

    original = {}
    for name in ("read_text", "read_bytes", "exists"):
        original["PosixPath", name] = getattr(pathlib.PosixPath, name)

        def patched(self, *args, _name=name, **kwargs):
            if str(self).startswith("/proc"):
                if _name == "exists":
                    return False
                raise FileNotFoundError(f"no /proc here: {self}")
            return original["PosixPath", _name](self, *args, **kwargs)

        monkeypatch.setattr(pathlib.PosixPath, name, patched)
    assert builtins.open  # psutil's way in stays


def test_reaping_works_without_reading_proc(tmp_path, spawn, no_proc_reads):
    """Before psutil, a dead owner's Pushpin was never reaped where /proc cannot be read."""
    instance = Path(tempfile.mkdtemp(prefix="ce-pp-"))
    (instance / "run").mkdir()
    child = spawn([sys.executable, "-c", "import time; time.sleep(60)", str(instance)])
    assert start_time(os.getpid()) is not None
    assert Owner.current().is_alive()
    write_state(tmp_path, str(instance), [child.pid], owner=Owner(os.getpid(), "1"))
    assert reap_orphans(tmp_path) == [child.pid]
    assert not alive(child.pid) and not instance.exists()


def test_start_time_is_seconds_since_boot_and_stable(no_proc_reads):
    first = start_time(os.getpid())
    assert first is not None and float(first) > 0
    assert start_time(os.getpid()) == first
    assert processes.cmdline(os.getpid()) == " ".join(sys.orig_argv)  # this run's


def test_the_process_holding_a_port_is_named():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = ports.port_in_use_message("app", "127.0.0.1", port)
    assert "already in use by " in message and f"(pid {os.getpid()})" in message
