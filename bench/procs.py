"""Child processes of the bench: started pinned, watched line by line, stopped by PID.

Every process the bench starts is registered here; ``stop_all`` stops them (newest first)
by PID, also on Ctrl-C or a failure, and SIGKILLs whatever of theirs outlived them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER_CPU = 0  # compute-emu, Pushpin, origins, baselines
CLIENT_CPU = 1  # wrk and the bench's own clients (this process)

_running: list[Proc] = []


def pinned(cpu: int, argv: list[str]) -> list[str]:
    """``argv`` under ``taskset -c cpu`` (unchanged where taskset or the CPU is missing)."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > cpu:
        return ["taskset", "-c", str(cpu), *argv]
    return argv


def descendants(pid: int) -> set[int]:
    """PIDs of every live descendant of ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def start_time(pid: int) -> str | None:
    """The start time of ``pid`` (so a PID reused later is never mistaken for it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def status_kib(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of /proc/PID/status in KiB (VmRSS, VmHWM), 0 if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{field}:\s+(\d+)", text, re.M)
    return int(match.group(1)) if match else 0


def fd_count(pid: int) -> int:
    """Open file descriptors of ``pid``."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A registered child whose stdout and stderr are kept line by line."""

    def __init__(self, argv: list[str], *, cpu: int | None = SERVER_CPU, cwd: Path = ROOT) -> None:
        self.argv = pinned(cpu, argv) if cpu is not None else argv
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.pid = self.proc.pid
        self.lines: list[str] = []  # stdout and stderr interleaved
        self._changed = threading.Condition()
        self._seen_children: dict[int, str | None] = {}
        self._pumps = [
            threading.Thread(target=self._pump, args=(stream,), daemon=True)
            for stream in (self.proc.stdout, self.proc.stderr)
        ]
        for pump in self._pumps:
            pump.start()
        _running.append(self)

    def _pump(self, stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first output line matching ``pattern``; RuntimeError with the output if none."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if match := regex.search(line):
                        return match
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    if self.proc.poll() is not None and seen < len(self.lines):
                        continue
                    raise RuntimeError(
                        f"no line matching {pattern!r} from {' '.join(self.argv)}\n{self.output}"
                    )
                self._changed.wait(min(left, 0.1))

    def children(self) -> set[int]:
        """Live descendants (remembered, so they can be killed if they outlive this one)."""
        found = descendants(self.pid)
        for pid in found:
            self._seen_children.setdefault(pid, start_time(pid))
        return found

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit by itself (SIGKILL after ``timeout``)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM by PID, wait, SIGKILL if needed; then any descendant it left behind."""
        if self.proc.poll() is None:
            self.children()
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"  ! pid {self.pid} ignored SIGTERM: SIGKILL", file=sys.stderr)
                self.proc.kill()
                self.proc.wait(5)
        for pid, started in self._seen_children.items():
            if started is not None and start_time(pid) == started:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        for pump in self._pumps:
            pump.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()
        if self in _running:
            _running.remove(self)


def stop_all() -> None:
    """Stop every child still registered, newest first."""
    while _running:
        proc = _running[-1]
        try:
            proc.stop()
        except Exception as exc:  # keep stopping the others
            print(f"  ! stopping pid {proc.pid}: {exc}", file=sys.stderr)
            if proc in _running:
                _running.remove(proc)
