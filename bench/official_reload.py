"""Edit-to-answer time of an official-SDK app: the SDK README's Flask hello, served natively.

``python -m bench.official_reload [N]`` (needs .venv-official: ``bash scripts/official-env``)
starts ``compute-emu serve`` under the env's Python, then N times: saves main.py with a new
greeting and polls ``GET /`` every 5 ms until the new greeting comes back. Prints the start-up
time (spawn to first answer) and the save-to-first-correct-answer times. The official path for
the same edit is a Wasm build plus a Viceroy start: 12-13 s per edit (7.3-9.3 s build, ~5 s
compile at start, measured for issue #12; `make bench` times the build side by side:
bench/official_build.py).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # `python bench/official_reload.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .official_build import OFFICIAL_PY, emu_edits, write_project


def main(rounds: int = 20) -> None:
    if not OFFICIAL_PY.exists():
        raise SystemExit("needs .venv-official: bash scripts/official-env")
    with tempfile.TemporaryDirectory(prefix="official-reload-") as tmp:
        startup, times = emu_edits(write_project(Path(tmp), "Hello"), rounds)
    ms = sorted(t * 1000 for t in times)
    print(f"start-up (spawn to first answer): {startup * 1000:.0f} ms")
    print(
        f"save to first correct answer, {rounds} edits: median {statistics.median(ms):.0f} ms, "
        f"p90 {ms[int(len(ms) * 0.9) - 1]:.0f} ms, max {ms[-1]:.0f} ms "
        "(official build + start: 12-13 s)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
