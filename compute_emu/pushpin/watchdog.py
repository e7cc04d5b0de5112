"""A watchdog that stops a Pushpin instance when the compute-emu that owns it ends, however it
ends: a SIGKILL, ``os._exit()`` in an app, a crash, a closed terminal.

Pushpin's runner starts its four processes in process groups of their own, so nothing the
kernel does when compute-emu dies reaches them (a parent-death signal given to the runner is
not inherited by its children, and none exists on macOS). The watchdog is a small process of
its own session (a closed terminal's SIGHUP and a Ctrl-C do not reach it) that compute-emu
starts with a pipe on its stdin: compute-emu holds the only write end, so the pipe reaches
end-of-file the moment compute-emu ends, for whatever reason. The watchdog also checks every
``POLL`` seconds that the owner (PID and start time) is alive, should a forked child of the
app hold the pipe open. Then it stops the instance as a later start would
(:func:`~.processes.stop_instance`: each PID only if its command line names the instance) and
exits. After a clean stop compute-emu closes the pipe itself and nothing is left to stop.

Run as ``python -m compute_emu.pushpin.watchdog PROJECT_DIR INSTANCE_DIR OWNER_PID
OWNER_STARTED``.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from .processes import Owner, read_state, state_file, stop_instance

POLL = 0.5  # seconds between checks that the owner is alive (the pipe is the quick way)
EXITING_POLL = 0.01  # the same, once the pipe says the owner is ending
EXIT_TIMEOUT = 5.0  # how long a clean stop waits for the watchdog to exit


def wait_for_owner(owner: Owner, pipe: int) -> None:
    """Return once ``pipe`` is at end-of-file or ``owner`` is no longer alive."""
    while True:
        readable, _, _ = select.select([pipe], [], [], POLL)
        if readable and not os.read(pipe, 4096):
            return
        if not owner.is_alive():
            return


def main(argv: list[str]) -> int:
    """Wait for the owner to end, then stop the instance if it is still recorded."""
    project_dir, instance_dir, owner_pid, owner_started = argv
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    owner = Owner(int(owner_pid), owner_started or None)
    wait_for_owner(owner, sys.stdin.fileno())
    # The pipe closes as the owner's exit begins, a moment before the owner counts as
    # dead; after a clean stop the state file is already gone.
    while (state := read_state(state_file(Path(project_dir), instance_dir))) is not None:
        if not state.owner.is_alive():
            stop_instance(state)
            break
        time.sleep(EXITING_POLL)
    return 0


class Watchdog:
    """The watchdog of one Pushpin instance, as its owner sees it."""

    def __init__(self, project_dir: Path, instance_dir: str) -> None:
        owner = Owner.current()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                __name__,
                str(project_dir),
                instance_dir,
                str(owner.pid),
                owner.started or "",
            ],
            stdin=subprocess.PIPE,  # close-on-exec here: no child of ours inherits it
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def close(self) -> None:
        """The instance was stopped: let the watchdog go, and wait for it (blocks)."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
