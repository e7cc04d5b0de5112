"""Child processes for end-to-end tests: started, watched, and always stopped by PID."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> set[int]:
    """PIDs of every live descendant of ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Child:
    """A process whose stdout and stderr are collected line by line."""

    def __init__(
        self, args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.args = args
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.pid = self.proc.pid
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._changed = threading.Condition()
        self._read_from = {"stdout": 0, "stderr": 0}  # where wait_for() starts looking
        self.known_descendants: set[int] = set()
        self._pumps = [
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True)
            for stream, sink in (
                (self.proc.stdout, self.stdout_lines),
                (self.proc.stderr, self.stderr_lines),
            )
        ]
        for pump in self._pumps:
            pump.start()

    def _pump(self, stream, sink: list[str]) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            with self._changed:
                sink.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def stdout(self) -> str:
        return "\n".join(self.stdout_lines)

    @property
    def stderr(self) -> str:
        return "\n".join(self.stderr_lines)

    def wait_for(
        self, pattern: str, timeout: float = 15.0, stream: str = "stdout"
    ) -> re.Match[str]:
        """Wait until a line of ``stream`` matches ``pattern``; fail with the output if not."""
        regex = re.compile(pattern)
        lines = self.stdout_lines if stream == "stdout" else self.stderr_lines
        deadline = time.monotonic() + timeout
        seen = self._read_from[stream]
        with self._changed:
            while True:
                for line in lines[seen:]:
                    if match := regex.search(line):
                        return match
                seen = len(lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and seen == len(lines)):
                    if self.proc.poll() is not None:
                        time.sleep(0.1)  # let the pumps drain
                        for line in lines[seen:]:
                            if match := regex.search(line):
                                return match
                    raise AssertionError(
                        f"no line matching {pattern!r} in {stream} of {self.args}\n"
                        f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
                    )
                self._changed.wait(min(remaining, 0.1))

    def read_from_here(self) -> None:
        """From now on :meth:`wait_for` matches only lines printed after this call (for the
        next test of a module whose tests share this process)."""
        with self._changed:
            self._read_from = {"stdout": len(self.stdout_lines), "stderr": len(self.stderr_lines)}

    def snapshot_descendants(self) -> None:
        """Remember the children so far, to check later that none outlived this process."""
        self.known_descendants |= descendants(self.pid)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signal, wait, and SIGKILL by PID if needed. Returns the exit status."""
        if self.proc.poll() is not None:
            self._close_pipes()
            return self.proc.returncode
        if self.proc.poll() is None:
            self.snapshot_descendants()
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(
                    f"{self.args} did not stop within {timeout}s of signal {sig}"
                ) from None
        self._close_pipes()
        return self.proc.returncode

    def _close_pipes(self) -> None:
        for pump in self._pumps:
            pump.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()

    def kill_leftovers(self) -> list[int]:
        """SIGKILL any remembered descendant still alive; returns their PIDs."""
        left = [pid for pid in self.known_descendants if alive(pid)]
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return left


def python_module(module: str, *args: str) -> list[str]:
    """argv to run ``python -m module args``."""
    return [sys.executable, "-m", module, *args]


def run_compute_emu(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``python -m compute_emu ARGS`` to completion (no stdin), capturing its output."""
    return subprocess.run(
        python_module("compute_emu", *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
