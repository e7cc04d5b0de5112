"""`make bench` rows of the Wasm path, side by side in one run.

- ``wasm_build``: ``compute-emu build --force`` of an official-SDK hello, against the SDK's own
  ``fastly-compute-py build`` of the same project with the same environment (target: within
  1.1x: compute-emu's scan, staging and package around the same toolchain);
- ``wasm_start``: ``compute-emu serve --wasm`` from spawn to its first answer, with the compiled
  component in the cache (target <= 1 s); the cold compile of the first start in the note;
- ``wasm_hello``: the built hello's p50 with one connection under ``serve --wasm`` (target
  <= 10 ms), the same app served natively (``compute-emu serve`` on the official SDK) in the
  same run as the reference.

Builds need .venv-official (bash scripts/official-env): without it the rows say so.
``python -m bench.wasm_rows`` prints these rows alone (``BENCH_ONLY=wasm`` in ``make bench``);
``BENCH_WASM=start`` (comma-separated: build, start, hello) runs only those of the three (the
hello is then built once, untimed); ``BENCH_STARTS`` is the number of warm starts (default 3).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

if __package__ in (None, ""):  # `python bench/wasm_rows.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .procs import ROOT, SERVER_CPU, Proc, pinned
from .report import Row
from .scenarios_http import Settings, alternate
from .wrk import wrk

BUILD_ENV = ROOT / ".venv-official"
OFFICIAL_PY = BUILD_ENV / "bin" / "python"
HELLO = """from wit_world import exports
from wit_world.imports import http_body, http_resp


class HttpIncoming(exports.HttpIncoming):
    def handle(self, request, body):
        response = http_resp.Response.new()
        out = http_body.new()
        http_body.write(out, b"Hello, world!")
        http_resp.send_downstream(response, out)
"""
PYPROJECT = (
    '[project]\nname = "hello"\nversion = "0.1.0"\nrequires-python = ">=3.12"\n\n'
    '[tool.fastly-compute]\nentry = "main"\n'
)
FASTLY_TOML = 'manifest_version = 3\nname = "wasm hello"\nlanguage = "other"\n'


@contextlib.contextmanager
def environment(cache: Path) -> Iterator[None]:
    """compute-emu's cache and build environment for the processes started meanwhile, and
    their bytecode cached as an installed compute-emu's is (with PYTHONDONTWRITEBYTECODE set,
    as it may be where the bench runs, every start compiled compute_emu from source: ~0.3-0.5 s
    of a start no user sees)."""
    names = ("COMPUTE_EMU_CACHE_DIR", "COMPUTE_EMU_BUILD_ENV", "PYTHONDONTWRITEBYTECODE")
    saved = {k: os.environ.get(k) for k in names}
    os.environ["COMPUTE_EMU_CACHE_DIR"] = str(cache)
    os.environ["COMPUTE_EMU_BUILD_ENV"] = str(BUILD_ENV)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def write_project(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "pyproject.toml").write_text(PYPROJECT)
    (path / "fastly.toml").write_text(FASTLY_TOML)
    (path / "main.py").write_text(HELLO)
    return path


def timed(argv: list[str], cwd: Path) -> float:
    """Seconds ``argv`` takes (pinned to the server CPU); RuntimeError if it fails."""
    started = time.perf_counter()
    out = subprocess.run(
        pinned(SERVER_CPU, argv), cwd=cwd, capture_output=True, text=True, timeout=900
    )
    took = time.perf_counter() - started
    if out.returncode:
        last = (out.stderr or out.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{argv[0]} failed: {' / '.join(last)[:200]}")
    return took


def build_rows(project: Path, rounds: int) -> list[Row]:
    """compute-emu build --force against fastly-compute-py build, alternating."""
    emu = [sys.executable, "-m", "compute_emu", "build", "-C", str(project), "--force"]
    tool = BUILD_ENV / "bin" / "fastly-compute-py"
    official = [str(tool), "build", "-e", "main", "-o", "bin/official.wasm", "-v", str(BUILD_ENV)]
    times: dict[str, list[float]] = {"emu": [], "official": []}
    for i in range(rounds):
        order = ["emu", "official"] if i % 2 == 0 else ["official", "emu"]
        for side in order:
            times[side].append(timed(emu if side == "emu" else official, project))
    # the best of each side (on a shared machine noise only slows), as the other rows keep
    value, baseline = min(times["emu"]), min(times["official"])
    row = Row("wasm_build", "compute-emu build (official-SDK hello)", value, "s")
    row.baseline, row.baseline_name, row.compare = baseline, "fastly-compute-py build", "ratio"
    row.target, row.met = "<= 1.1x", value <= 1.1 * baseline
    each = ", ".join(
        f"{a:.1f}/{b:.1f}" for a, b in zip(times["emu"], times["official"], strict=True)
    )
    row.note = f"best of {rounds} each (compute-emu/official: {each} s)"
    row.extra = {"builds": times["emu"], "official_builds": times["official"]}
    return [row]


def serve(project: Path, *args: str, python: str = sys.executable) -> tuple[Proc, str, float]:
    """``compute-emu serve`` (its process, URL, and seconds from spawn to its first answer)."""
    argv = [python, "-m", "compute_emu", "serve", "-C", str(project), "--addr", "127.0.0.1:0"]
    started = time.perf_counter()
    proc = Proc([*argv, "-q", *args])
    url = proc.wait_for(r"Listening on (http://\S+)", timeout=300).group(1)
    with urllib.request.urlopen(url + "/", timeout=60) as answer:
        answer.read()
    return proc, url, time.perf_counter() - started


def start_row(project: Path, starts: int = 3) -> tuple[Row, float | None]:
    """serve --wasm's start with a warm cache; the first (cold) start's compile in the note."""
    proc, _, cold = serve(project, "--wasm")
    compiled = None
    try:
        import re

        found = re.search(r"compiled in ([\d.]+) s", proc.output)
        compiled = float(found.group(1)) if found else None
    finally:
        proc.stop()
    warm, native = [], []
    for _ in range(starts):
        proc, _, took = serve(project, "--wasm")
        proc.stop()
        warm.append(took)
        proc, _, took = serve(project, python=str(OFFICIAL_PY))
        proc.stop()
        native.append(took)
    value = statistics.median(warm)
    row = Row(
        "wasm_start", "serve --wasm: spawn to first answer, compiled component cached", value, "s"
    )
    row.baseline, row.baseline_name = statistics.median(native), "native serve, same app"
    row.compare = "added"
    row.target, row.met = "<= 1 s", value <= 1.0
    each = ", ".join(f"{t:.2f}" for t in warm)
    cold_note = f"cold start {cold:.1f} s" + (f" (compile {compiled:.1f} s)" if compiled else "")
    row.note = f"median of {starts} starts ({each} s); {cold_note}"
    row.extra = {"warm": warm, "native": native, "cold": cold, "compile": compiled}
    return row, compiled


def hello_row(project: Path, settings: Settings) -> Row:
    """p50 at one connection: serve --wasm against the same app served natively."""
    wasm, wasm_url, _ = serve(project, "--wasm")
    native, native_url, _ = serve(project, python=str(OFFICIAL_PY))
    try:
        urls = {"wasm": wasm_url + "/", "native": native_url + "/"}
        for url in urls.values():
            wrk(url, 1, 1)  # warm-up
        one = alternate(urls, 1, settings, {})
    finally:
        wasm.stop()
        native.stop()
    result, base = one["wasm"], one["native"]
    row = Row("wasm_hello", "serve --wasm hello, 1 conn, p50", result.p50, "ms")
    row.baseline, row.baseline_name, row.compare = base.p50, "native serve, same app", "ratio"
    row.target, row.met = "<= 10 ms", result.p50 <= 10.0
    row.note = f"{result.rps:.0f} req/s (native {base.rps:.0f}); p99 {result.p99:.1f} ms"
    row.extra = {"p99": result.p99, "rps": result.rps, "native_p99": base.p99}
    return row


def wasm_rows(tmp: Path, settings: Settings) -> list[Row]:
    """The three rows (see the module docstring)."""
    if not (BUILD_ENV / "bin" / "fastly-compute-py").exists():
        why = "not measured: .venv-official is missing (bash scripts/official-env)"
        return [
            Row(key, key, None, "", note=why) for key in ("wasm_build", "wasm_start", "wasm_hello")
        ]
    wanted = set(filter(None, os.environ.get("BENCH_WASM", "build,start,hello").split(",")))
    project = write_project(tmp / "wasm-hello")
    rows: list[Row] = []
    with environment(tmp / "wasm-cache"):
        if "build" in wanted:
            rows += build_rows(project, max(settings.rounds, 2))
        else:
            timed([sys.executable, "-m", "compute_emu", "build", "-C", str(project)], project)
        if "start" in wanted:
            rows.append(start_row(project, int(os.environ.get("BENCH_STARTS", 3)))[0])
        if "hello" in wanted:
            rows.append(hello_row(project, settings))
    return rows


def main() -> int:
    from .report import table

    seconds = float(os.environ.get("BENCH_SECONDS", 5))
    settings = Settings(seconds, int(os.environ.get("BENCH_ROUNDS", 2)))
    with tempfile.TemporaryDirectory(prefix="bench-wasm-") as tmp:
        rows = wasm_rows(Path(tmp), settings)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
