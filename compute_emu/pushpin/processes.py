"""Pushpin's processes by PID: pid files, per-instance state files, and stopping them safely.

Pushpin's runner starts four children in their own process groups; if the runner is
SIGKILLed they live on (holding the ports). So every Pushpin instance has a state file in a
directory private to the user, one per instance (several `compute-emu serve` of one project
can run side by side on different ports). It names the instance directory, the PIDs, and the
*owner*: the compute-emu process that started it, by PID and start time.

A later start stops an instance only when its owner is dead, and then only signals a PID
whose command line still names that instance's directory (so a reused PID is never hit).
A live owner's instance is never touched.

Owner liveness: the start time is recorded with the PID, so an owner PID reused by another
process counts as dead. It is read through psutil (``/proc`` on Linux, ``sysctl`` on macOS) and
kept as seconds since boot, which a change of the system clock does not move (on Linux it is
the exact tick count of ``/proc/PID/stat``). Where psutil cannot read a process at all (another
user's, on some systems) only ``os.kill(pid, 0)`` is checked, and such a process is never
signalled: its command line cannot be checked.

While the owner lives, a watchdog process (``watchdog.py``) waits for it to end, however it
ends, and then stops the instance by the same rules; a later start only finds orphans if the
watchdog was killed too. A port held by an orphan is freed whatever project it served
(:func:`reap_port_holder`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

# Files of other formats are left alone: format 2 (older compute-emu versions) recorded the
# start time in clock ticks, not in seconds.
STATE_FORMAT = 3
_GONE = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
# Two readings of one process's start time may differ by this much (macOS: psutil's clock
# adjustments); a reused PID would have to be handed out again within it.
_START_SLACK = 0.05


def state_dir() -> Path:
    """Where compute-emu keeps per-project Pushpin state (private to this user)."""
    path = Path(tempfile.gettempdir()) / f"compute-emu-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _project_prefix(project_dir: Path) -> str:
    digest = hashlib.sha1(str(project_dir.resolve()).encode()).hexdigest()[:16]
    return f"pushpin-{digest}-"


def state_file(project_dir: Path, instance_dir: str) -> Path:
    """The state file of one instance of one project."""
    return state_dir() / f"{_project_prefix(project_dir)}{Path(instance_dir).name}.json"


def project_state_files(project_dir: Path) -> list[Path]:
    """The state files of every recorded instance of a project."""
    return sorted(state_dir().glob(f"{_project_prefix(project_dir)}*.json"))


def _stat_fields(pid: int) -> tuple[str, str | None] | None:
    """``(status, start time)`` of ``pid`` (psutil's names: ``"running"``, ``"zombie"``, ...);
    None if there is no such process. The start time is None if it cannot be read."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            status = process.status()
            try:
                started: str | None = f"{process.create_time() - psutil.boot_time():.2f}"
            except psutil.AccessDenied:
                started = None
        return status, started
    except psutil.ZombieProcess:
        return psutil.STATUS_ZOMBIE, None
    except psutil.NoSuchProcess:
        return None
    except psutil.AccessDenied:
        return "unknown", None


def start_time(pid: int) -> str | None:
    """When ``pid`` started (seconds since boot, as text); None if that cannot be read."""
    fields = _stat_fields(pid)
    return None if fields is None else fields[1]


def _same_start(a: str, b: str) -> bool:
    try:
        return abs(float(a) - float(b)) <= _START_SLACK
    except ValueError:
        return a == b


def _have_proc() -> bool:
    """Whether processes can be inspected here (psutil supports this system): if so, a PID
    that :func:`_stat_fields` cannot find is gone."""
    try:
        return psutil.Process().status() not in _GONE
    except psutil.Error:
        return False


@dataclass(frozen=True)
class Owner:
    """The compute-emu process that started an instance."""

    pid: int
    started: str | None  # None where it cannot be read: liveness by PID only

    @classmethod
    def current(cls) -> Owner:
        """This process."""
        pid = os.getpid()
        return cls(pid, start_time(pid))

    def is_alive(self) -> bool:
        """Still running (not a zombie), and not a new process that got the same PID."""
        if self.pid <= 0:
            return False
        fields = _stat_fields(self.pid)
        if fields is not None:
            if fields[0] in _GONE:
                return False
            # a start time that cannot be read now: someone else's process, may be the owner
            return self.started is None or fields[1] is None or _same_start(fields[1], self.started)
        if _have_proc():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # someone's process has the PID: it may be the owner
        return True


def cmdline(pid: int) -> str:
    """The command line of ``pid`` ("" if it is gone or cannot be read)."""
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return ""


def is_ours(pid: int, instance_dir: str) -> bool:
    """True if ``pid`` is alive and its command line names ``instance_dir``."""
    if pid <= 1:
        return False
    fields = _stat_fields(pid)
    if fields is None or fields[0] in _GONE:
        return False
    return instance_dir in cmdline(pid)


def pid_file_pids(rundir: Path) -> list[int]:
    """PIDs from the ``*.pid`` files Pushpin's runner writes for its children."""
    pids = []
    for path in rundir.glob("*.pid"):
        with contextlib.suppress(OSError, ValueError):
            pids.append(int(path.read_text().strip()))
    return pids


def _running(pid: int) -> bool:
    """Not gone and not a zombie (an exiting process may already show an empty cmdline)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in _GONE


def _wait_gone(pids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_running(pid) for pid in pids):
        time.sleep(0.02)


def kill_instance(pids: list[int], instance_dir: str, grace: float = 3.0) -> list[int]:
    """SIGTERM then SIGKILL each PID that still belongs to the instance, and wait till they
    are gone (their ports free again). Returns those hit."""
    targets = sorted({pid for pid in pids if is_ours(pid, instance_dir)})
    for pid in targets:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    _wait_gone(targets, grace)
    for pid in targets:
        if is_ours(pid, instance_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    _wait_gone(targets, 1.0)
    return targets


def write_state(
    project_dir: Path, instance_dir: str, pids: list[int], owner: Owner | None = None
) -> None:
    """Record a running instance, owned by this process unless ``owner`` says otherwise (so
    a later start can clean up after a SIGKILL of the owner, and leaves it alone till then)."""
    owner = owner or Owner.current()
    path = state_file(project_dir, instance_dir)
    tmp = path.with_suffix(".tmp")
    state = {
        "format": STATE_FORMAT,
        "instance_dir": instance_dir,
        "owner_pid": owner.pid,
        "owner_started": owner.started,
        "pids": sorted(set(pids)),
        "project_dir": str(project_dir),  # for messages (read as optional)
    }
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


def clear_state(project_dir: Path, instance_dir: str) -> None:
    """Forget one recorded instance (it was stopped properly)."""
    with contextlib.suppress(FileNotFoundError):
        state_file(project_dir, instance_dir).unlink()


@dataclass(frozen=True)
class InstanceState:
    """One state file: an instance, its owner and its PIDs as last recorded."""

    path: Path  # the state file
    instance_dir: str
    owner: Owner
    pids: list[int]
    project_dir: str | None  # None in files written before it was recorded


def read_state(path: Path) -> InstanceState | None:
    """The state file at ``path``; None if it is gone, unreadable or of another format."""
    try:
        state = json.loads(path.read_text())
        if state["format"] != STATE_FORMAT:
            return None
        started = state["owner_started"]
        owner = Owner(int(state["owner_pid"]), None if started is None else str(started))
        project = state.get("project_dir")
        return InstanceState(
            path,
            str(state["instance_dir"]),
            owner,
            [int(p) for p in state["pids"]],
            None if project is None else str(project),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def live_owners(project_dir: Path) -> list[int]:
    """PIDs of the live compute-emu processes running a Pushpin for this project."""
    states = (read_state(path) for path in project_state_files(project_dir))
    return sorted({s.owner.pid for s in states if s is not None and s.owner.is_alive()})


def stop_instance(state: InstanceState) -> list[int]:
    """Stop a recorded instance (its recorded PIDs and those of its pid files, each only if
    its command line still names the instance), remove its directory and its state file.
    Returns the PIDs stopped."""
    instance = Path(state.instance_dir)
    killed = kill_instance([*state.pids, *pid_file_pids(instance / "run")], state.instance_dir)
    if instance.is_dir() and instance.name.startswith("ce-pp-"):
        shutil.rmtree(instance, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        state.path.unlink()
    return killed


def reap_orphans(project_dir: Path) -> list[int]:
    """Stop what earlier compute-emu runs of this project, now dead, left running.

    Instances whose owner is alive are left alone. Returns the PIDs stopped.
    """
    killed: set[int] = set()
    for path in project_state_files(project_dir):
        state = read_state(path)
        if state is not None and not state.owner.is_alive():
            killed.update(stop_instance(state))
    return sorted(killed)


@dataclass(frozen=True)
class PortHolder:
    """A Pushpin process of compute-emu's listening on a port, and the instance it is of."""

    pid: int
    name: str  # the process name (condure, pushpin-proxy, ...)
    state: InstanceState

    def owner_text(self) -> str:
        """``the Pushpin of compute-emu pid 34 (project /p)``."""
        project = f" (project {self.state.project_dir})" if self.state.project_dir else ""
        return f"the Pushpin of compute-emu pid {self.state.owner.pid}{project}"


def port_holder(port: int) -> PortHolder | None:
    """The compute-emu Pushpin instance (of any project of this user) whose process listens
    on ``port`` on this machine, if that is what holds it."""
    from ..ports import listening_pid

    pid = listening_pid(port)
    if pid is None:
        return None
    command = cmdline(pid)
    for path in state_dir().glob("pushpin-*-ce-pp-*.json"):
        state = read_state(path)
        if state is not None and state.instance_dir in command:
            try:
                name = psutil.Process(pid).name()
            except psutil.Error:
                name = "pid"
            return PortHolder(pid, name, state)
    return None


def reap_port_holder(port: int) -> tuple[PortHolder, list[int]] | None:
    """If ``port`` is held by a compute-emu Pushpin whose owner is dead, whatever project it
    served, stop that instance: returns who held it and the PIDs stopped. A live owner's
    instance, or anything else holding the port, is left alone (None)."""
    holder = port_holder(port)
    if holder is None or holder.state.owner.is_alive():
        return None
    return holder, stop_instance(holder.state)
