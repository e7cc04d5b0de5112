"""``BENCH_PROFILE=1``: py-spy on compute-emu while a scenario that missed its target reruns."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

from .procs import CLIENT_CPU, Proc
from .report import RESULTS


def enabled() -> bool:
    return os.environ.get("BENCH_PROFILE", "") not in ("", "0")


def py_spy() -> str | None:
    found = Path(sys.executable).parent / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


class Recording:
    """``py-spy record`` of one PID for ``seconds``, written to bench/results/profile-NAME.svg."""

    def __init__(self, pid: int, name: str, seconds: float) -> None:
        self.path = RESULTS / f"profile-{name}.svg"
        self.proc: Proc | None = None
        binary = py_spy()
        if binary is None:
            print("  ! BENCH_PROFILE=1 needs py-spy (.venv/bin/pip install py-spy)")
            return
        RESULTS.mkdir(exist_ok=True)
        argv = [binary, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
        argv += ["--rate", "250", "--nonblocking", "--threads", "-o", str(self.path)]
        self.proc = Proc(argv, cpu=CLIENT_CPU)

    def finish(self, timeout: float = 60.0) -> str:
        """Wait for py-spy; the path of the flame graph ("" if there is none)."""
        if self.proc is None:
            return ""
        with contextlib.suppress(Exception):
            self.proc.wait(timeout)
        self.proc.stop()
        if not self.path.exists():
            print(f"  ! py-spy wrote nothing:\n{self.proc.output}")
            return ""
        print(f"  profile: {self.path.relative_to(RESULTS.parent.parent)}")
        return str(self.path.relative_to(RESULTS.parent.parent))
