"""A child process on a pseudo-terminal (a user at a terminal): read what it shows, type."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import time

from tests.support.processes import ROOT


class PtyChild:
    """``args`` with stdin, stdout and stderr on one pty; stopped by PID in :meth:`stop`."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        master, slave = pty.openpty()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=full_env, start_new_session=True
        )
        os.close(slave)
        self.fd = master
        self.shown = b""  # everything the terminal showed so far

    def expect(self, text: bytes, timeout: float = 15.0) -> int:
        """Wait until ``text`` shows (after what earlier calls matched); its end offset."""
        deadline = time.monotonic() + timeout
        while text not in self.shown:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(0.0, min(remaining, 0.1)))
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk and self.proc.poll() is not None:
                    break
                self.shown += chunk
            elif remaining <= 0 or self.proc.poll() is not None:
                break
        if text not in self.shown:
            raise AssertionError(f"{text!r} never showed; the terminal showed:\n{self.shown!r}")
        return self.shown.index(text) + len(text)

    def type(self, text: bytes) -> None:
        """Type ``text`` at the terminal."""
        os.write(self.fd, text)

    def stop(self) -> int:
        """SIGTERM by PID, wait, SIGKILL if needed; close the terminal."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        return self.proc.returncode
