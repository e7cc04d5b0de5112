"""Pushpin's processes by PID: pid files, the orphan state file, and stopping them safely.

Pushpin's runner starts four children in their own process groups; if the runner is
SIGKILLed they live on (holding the ports). We find them by the pid files in the instance's
run directory and by a state file per project, and only ever signal a PID whose command line
still names our instance directory (so a reused PID is never hit).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import tempfile
import time
from pathlib import Path


def state_dir() -> Path:
    """Where compute-emu keeps per-project Pushpin state (private to this user)."""
    path = Path(tempfile.gettempdir()) / f"compute-emu-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def state_file(project_dir: Path) -> Path:
    """The state file for one project."""
    digest = hashlib.sha1(str(project_dir.resolve()).encode()).hexdigest()[:16]
    return state_dir() / f"pushpin-{digest}.json"


def cmdline(pid: int) -> str:
    """The command line of ``pid`` ("" if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def is_ours(pid: int, instance_dir: str) -> bool:
    """True if ``pid`` is alive and its command line names ``instance_dir``."""
    if pid <= 1:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and instance_dir in cmdline(pid)


def pid_file_pids(rundir: Path) -> list[int]:
    """PIDs from the ``*.pid`` files Pushpin's runner writes for its children."""
    pids = []
    for path in rundir.glob("*.pid"):
        with contextlib.suppress(OSError, ValueError):
            pids.append(int(path.read_text().strip()))
    return pids


def kill_instance(pids: list[int], instance_dir: str, grace: float = 3.0) -> list[int]:
    """SIGTERM then SIGKILL each PID that still belongs to the instance. Returns those hit."""
    targets = [pid for pid in pids if is_ours(pid, instance_dir)]
    for pid in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(is_ours(pid, instance_dir) for pid in targets):
        time.sleep(0.02)
    for pid in targets:
        if is_ours(pid, instance_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return targets


def write_state(project_dir: Path, instance_dir: str, pids: list[int]) -> None:
    """Record a running instance, so a later start can clean up after a SIGKILL."""
    path = state_file(project_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"instance_dir": instance_dir, "pids": sorted(set(pids))}))
    tmp.replace(path)


def clear_state(project_dir: Path) -> None:
    """Forget the recorded instance (it was stopped properly)."""
    with contextlib.suppress(FileNotFoundError):
        state_file(project_dir).unlink()


def reap_orphans(project_dir: Path) -> list[int]:
    """Stop what an earlier, killed compute-emu left running for this project."""
    path = state_file(project_dir)
    try:
        state = json.loads(path.read_text())
        instance_dir = str(state["instance_dir"])
        pids = [int(p) for p in state["pids"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    instance = Path(instance_dir)
    pids += pid_file_pids(instance / "run")
    killed = kill_instance(pids, instance_dir)
    if instance.is_dir() and instance.name.startswith("ce-pp-"):
        _remove_tree(instance)
    clear_state(project_dir)
    return killed


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
