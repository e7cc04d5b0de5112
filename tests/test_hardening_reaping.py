"""Orphan reaping decides by the owner's liveness: PID and start time, never a live owner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from compute_emu.pushpin import processes
from compute_emu.pushpin.processes import (
    Owner,
    project_state_files,
    reap_orphans,
    start_time,
    state_file,
    write_state,
)
from tests.support.processes import alive


@pytest.fixture
def instance(spawn):
    """A stand-in Pushpin instance: a ce-pp- directory and a process naming it."""
    path = Path(tempfile.mkdtemp(prefix="ce-pp-"))
    (path / "run").mkdir()
    child = spawn([sys.executable, "-c", "import time; time.sleep(60)", str(path)])
    yield path, child.pid
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def dead_pid() -> tuple[int, str | None]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    started = start_time(proc.pid)
    proc.kill()
    proc.wait()
    return proc.pid, started


def test_this_process_is_a_live_owner():
    owner = Owner.current()
    assert owner.started is not None  # Linux: /proc/PID/stat field 22
    assert owner.is_alive()


def test_a_reused_pid_or_a_finished_process_is_a_dead_owner():
    assert not Owner(os.getpid(), "1").is_alive()  # same PID, other start time
    assert not Owner(*dead_pid()).is_alive()
    assert not Owner(0, None).is_alive()


def test_without_proc_liveness_is_by_pid_only(monkeypatch):
    monkeypatch.setattr(processes, "_stat_fields", lambda pid: None)
    monkeypatch.setattr(processes, "_have_proc", lambda: False)
    assert Owner(os.getpid(), None).is_alive()
    assert not Owner(dead_pid()[0], None).is_alive()


def test_a_live_owners_instance_is_never_touched(tmp_path, instance):
    path, pid = instance
    write_state(tmp_path, str(path), [pid])  # owned by this (live) test process
    assert reap_orphans(tmp_path) == []
    assert alive(pid) and path.is_dir()
    assert project_state_files(tmp_path) == [state_file(tmp_path, str(path))]
    state_file(tmp_path, str(path)).unlink()


@pytest.mark.parametrize("how", ["dead", "pid reused"])
def test_a_dead_owners_instance_is_stopped_and_removed(tmp_path, instance, how):
    path, pid = instance
    owner = Owner(*dead_pid()) if how == "dead" else Owner(os.getpid(), "1")
    write_state(tmp_path, str(path), [pid, pid], owner=owner)
    (path / "run" / "condure.pid").write_text(f"{pid}\n")
    assert reap_orphans(tmp_path) == [pid]  # each PID once
    assert not alive(pid) and not path.exists()
    assert project_state_files(tmp_path) == []


def test_state_of_another_format_is_left_alone(tmp_path, instance):
    path, pid = instance
    old = state_file(tmp_path, str(path))
    old.write_text(json.dumps({"instance_dir": str(path), "pids": [pid]}))  # no owner
    try:
        assert reap_orphans(tmp_path) == []
        assert alive(pid) and path.is_dir()
    finally:
        old.unlink()


def test_instances_of_one_project_have_a_state_file_each(tmp_path):
    a, b = str(tmp_path / "ce-pp-a"), str(tmp_path / "ce-pp-b")
    write_state(tmp_path, a, [])
    write_state(tmp_path, b, [])
    try:
        assert len(project_state_files(tmp_path)) == 2
        processes.clear_state(tmp_path, a)
        assert project_state_files(tmp_path) == [state_file(tmp_path, b)]
    finally:
        processes.clear_state(tmp_path, b)
