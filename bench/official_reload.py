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

import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv-official" / "bin" / "python"

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


def main(rounds: int = 20) -> None:
    if not PYTHON.exists():
        raise SystemExit("needs .venv-official: bash scripts/official-env")
    with tempfile.TemporaryDirectory(prefix="official-reload-") as tmp:
        project = Path(tmp)
        (project / "pyproject.toml").write_text('[tool.fastly-compute]\nentry = "main"\n')
        (project / "fastly.toml").write_text('manifest_version = 3\nname = "hello"\n')
        (project / "main.py").write_text(HELLO.format(greeting="Hello"))
        started = time.monotonic()
        proc = subprocess.Popen(
            [str(PYTHON), "-m", "compute_emu", "serve", "-C", tmp, "--addr", "127.0.0.1:0", "-q"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        try:
            assert proc.stdout is not None
            url = ""
            for line in proc.stdout:
                if match := re.search(r"Listening on (http://\S+)", line):
                    url = match.group(1) + "/"
                    break
            if not url:
                raise SystemExit("compute-emu did not start")
            _wait_answer(url, "Hello")
            startup = time.monotonic() - started
            times = []
            for i in range(rounds):
                greeting = f"Hello {i}"
                (project / "main.py").write_text(HELLO.format(greeting=greeting))
                times.append(_wait_answer(url, greeting))
                time.sleep(0.3)  # an edit now and then, not a storm
        finally:
            proc.terminate()
            proc.wait(10)
    ms = sorted(t * 1000 for t in times)
    print(f"start-up (spawn to first answer): {startup * 1000:.0f} ms")
    print(
        f"save to first correct answer, {rounds} edits: median {statistics.median(ms):.0f} ms, "
        f"p90 {ms[int(len(ms) * 0.9) - 1]:.0f} ms, max {ms[-1]:.0f} ms "
        "(official build + start: 12-13 s)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
