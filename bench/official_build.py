"""`make bench` row: an official-SDK app's edit to first answer, compute-emu vs the Wasm build.

The app is the ``fastly-compute`` README's Flask hello. compute-emu's side: ``compute-emu
serve`` under .venv-official's Python, then each edit of main.py (a new greeting) is timed from
the save to the first ``GET /`` that answers with it. The official side, in the same run: the
SDK's own build (``fastly-compute-py build``, which embeds componentize-py) of the same app in a
bench-only venv (.venv-official-build: the interpreter of .venv-official, the same
fastly-compute release, Flask; kept by a stamp), timed from the save to bin/main.wasm holding the
new greeting. Starting that Wasm needs Viceroy (``fastly compute serve``), which the Fastly CLI
downloads from the network on first use; where it is not installed its start (~5 s to compile
the ~28 MB component, issue #12) is cited, not measured, and the row says so.

The row never fails the bench for a missing .venv-official or build tool: it says why instead.
``python -m bench.official_build`` prints the row alone.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

if __package__ in (None, ""):  # `python bench/official_build.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .procs import ROOT, SERVER_CPU, Proc, pinned
from .report import Row

OFFICIAL_PY = ROOT / ".venv-official" / "bin" / "python"
BUILD_VENV = ROOT / ".venv-official-build"
STAMP = BUILD_VENV / ".installed"
CITED_START = 5.0  # s: Viceroy compiling the component at start (measured for issue #12)
SCENARIO = "official-SDK Flask hello: edit to first answer"
PYPROJECT = (
    '[project]\nname = "hello"\nversion = "0.1.0"\nrequires-python = ">=3.12"\n'
    'dependencies = ["fastly-compute", "flask"]\n\n[tool.fastly-compute]\nentry = "main"\n'
)
FASTLY_TOML = 'manifest_version = 3\nname = "hello"\nlanguage = "other"\n'

HELLO = """import platform
from flask import Flask
from fastly_compute.wsgi import WsgiHttpIncoming

app = Flask(__name__)


@app.route("/")
def index():
    version = platform.python_version()
    return f"{greeting} from Python {{version}} on Fastly Compute!"

HttpIncoming = WsgiHttpIncoming(app)
"""


def _wait_answer(url: str, text: str, timeout: float = 30) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            r = httpx.get(url, timeout=5)
            if r.status_code == 200 and r.text.startswith(text):
                return time.monotonic() - start
        except httpx.TransportError:
            pass
        time.sleep(0.005)
    raise SystemExit(f"no answer {text!r} from {url} within {timeout}s")


def _python_of(python: Path, code: str) -> str:
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
    if out.returncode:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "failed")
    return out.stdout.strip()


def build_env() -> tuple[Path | None, str]:
    """The build venv's ``fastly-compute-py`` (made if needed), or None and why not."""
    if not OFFICIAL_PY.exists():
        return None, "not measured: .venv-official is missing (bash scripts/official-env)"
    version = _python_of(
        OFFICIAL_PY, "import importlib.metadata as m; print(m.version('fastly-compute'))"
    )
    spec = f"fastly-compute=={version} flask"
    tool = BUILD_VENV / "bin" / "fastly-compute-py"
    if STAMP.exists() and STAMP.read_text() == spec and tool.exists():
        return tool, spec
    base = _python_of(OFFICIAL_PY, "import sys; print(sys._base_executable)")
    print(f"  creating {BUILD_VENV.name} ({spec}) with {base}", flush=True)
    shutil.rmtree(BUILD_VENV, ignore_errors=True)
    steps = [[base, "-m", "venv", str(BUILD_VENV)]]
    steps.append([str(BUILD_VENV / "bin" / "python"), "-m", "pip", "install", "-q", *spec.split()])
    for step in steps:
        try:
            out = subprocess.run(step, capture_output=True, text=True, timeout=600)
        except OSError as exc:
            return None, f"not measured: the build venv could not be made ({exc})"
        if out.returncode:
            last = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
            return None, f"not measured: the build tool did not install ({last[0][:100]})"
    if not tool.exists():
        return None, f"not measured: {spec} installed no fastly-compute-py"
    STAMP.write_text(spec)
    return tool, spec


def write_project(path: Path, greeting: str) -> Path:
    """The SDK README's Flask hello as a project (pyproject.toml naming main, fastly.toml)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "pyproject.toml").write_text(PYPROJECT)
    (path / "fastly.toml").write_text(FASTLY_TOML)
    (path / "main.py").write_text(HELLO.format(greeting=greeting))
    return path


def emu_edits(project: Path, edits: int) -> tuple[float, list[float]]:
    """compute-emu serve on ``project``: (spawn to first answer, save-to-answer times), s."""
    started = time.perf_counter()
    serve = [str(OFFICIAL_PY), "-m", "compute_emu", "serve", "-C", str(project)]
    proc = Proc([*serve, "--addr", "127.0.0.1:0", "-q"])
    try:
        url = proc.wait_for(r"Listening on (http://\S+)", timeout=60).group(1) + "/"
        _wait_answer(url, "Hello")
        startup = time.perf_counter() - started
        times = []
        for i in range(edits):
            greeting = f"Hello {i}"
            (project / "main.py").write_text(HELLO.format(greeting=greeting))
            times.append(_wait_answer(url, greeting))
            time.sleep(0.3)  # an edit now and then, not a storm
    finally:
        proc.stop()
    return startup, times


def official_builds(tool: Path, project: Path, builds: int) -> list[float]:
    """``fastly-compute-py build`` after each edit: save to bin/main.wasm with the edit, s."""
    times = []
    for i in range(builds):
        greeting = f"Built {i}"
        (project / "main.py").write_text(HELLO.format(greeting=greeting))
        started = time.perf_counter()
        argv = pinned(SERVER_CPU, [str(tool), "build", "--virtualenv", str(BUILD_VENV)])
        out = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=300)
        took = time.perf_counter() - started
        if out.returncode:
            last = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"fastly-compute-py build failed: {last[0][:100]}")
        wasm = (project / "bin" / "main.wasm").read_bytes()
        if f"{greeting} from".encode() not in wasm:
            raise RuntimeError("bin/main.wasm does not hold the edited greeting")
        times.append(took)
    return times


def viceroy_note() -> str:
    if shutil.which("viceroy"):
        return f"Viceroy start not run by the bench: cited ~{CITED_START:.0f} s"
    return f"Viceroy not installed: its start is cited (~{CITED_START:.0f} s, issue #12)"


def official_rows(tmp: Path, builds: int = 3, edits: int = 5) -> list[Row]:
    """The row: compute-emu's median save-to-answer, the official build's median as baseline."""
    row = Row("official_edit", SCENARIO, None, "s", target="<= 1 s")
    if not OFFICIAL_PY.exists():
        row.note = "not measured: .venv-official is missing (bash scripts/official-env)"
        return [row]
    startup, times = emu_edits(write_project(tmp / "official-emu", "Hello"), edits)
    row.value = statistics.median(times)
    row.met = max(times) <= 1.0
    row.extra = {"edits": times, "startup": startup}
    tool, why = build_env()
    if tool is None:
        row.baseline_name, row.note = "fastly-compute-py build", why
        return [row]
    built = official_builds(tool, write_project(tmp / "official-build", "Built"), builds)
    median = statistics.median(built)
    row.baseline = median  # no ratio column: it would read 0.00x; the note says how many times
    row.baseline_name = f"fastly-compute-py build (median of {builds})"
    each = ", ".join(f"{b:.1f}" for b in built)
    row.note = (
        f"{len(times)} edits, max {max(times):.3f} s; builds {each} s, "
        f"{median / row.value:.0f}x compute-emu's median; "
        f"{viceroy_note()}: official build + start ~{median + CITED_START:.1f} s per edit"
    )
    row.extra |= {"builds": built, "build_tool": why, "cited_start": CITED_START}
    return [row]


def main() -> int:
    from .report import table

    with tempfile.TemporaryDirectory(prefix="bench-official-") as tmp:
        rows = official_rows(Path(tmp))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
