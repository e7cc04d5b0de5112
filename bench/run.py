"""`make bench`: compute-emu measured side by side with its baselines, in one run.

Figures are ratios on a shared machine: compare rows of one run, not runs of different days.
- hello world: an app that answers by itself, requests/s and latency (wrk, keep-alive);
- send(): an app that forwards to a fast local backend, against calling that backend directly;
- the cost of a fresh app instance per request (module top level re-run), in-process;
- a 1 GiB download through send(): throughput and compute-emu's peak memory.
The servers are pinned to CPU 0 and the load generator to CPU 1 where taskset exists.
"""

from __future__ import annotations

import http.client
import re
import shutil
import sys
import tempfile
import textwrap
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.processes import Child, python_module  # noqa: E402

HELLO_APP = """
from compute_emu.sdk import Response
def main():
    Response.from_body("Hello, world!").send_to_client()
"""
FORWARD_APP = """
from compute_emu.sdk import Request
def main():
    Request.from_client().send("origin").send_to_client()
"""
SECONDS = 5


def pinned(cpu: int, argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if shutil.which("taskset") else argv


def wrk(url: str, connections: int, headers: tuple[str, ...] = ()) -> dict[str, float]:
    """requests/s, p50 and p99 latency in ms (wrk, one thread, keep-alive)."""
    extra = [arg for header in headers for arg in ("-H", header)]
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{SECONDS}s", "--latency", *extra, url]
    child = Child(pinned(1, argv))
    child.proc.wait(SECONDS + 30)
    child.stop()
    out = child.stdout

    def latency(pct: str) -> float:
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        print(f"  ! {url} c={connections}: {errors.group(0)}")
    return {"rps": rps, "p50": latency("50"), "p99": latency("99")}


def project(tmp: Path, name: str, app: str, backend_port: int | None = None) -> Path:
    path = tmp / name
    (path / "src").mkdir(parents=True)
    toml = f'manifest_version = 3\nname = "{name}"\n'
    if backend_port is not None:
        toml += f'[local_server.backends.origin]\nurl = "http://127.0.0.1:{backend_port}/"\n'
    (path / "fastly.toml").write_text(toml)
    (path / "src" / "main.py").write_text(textwrap.dedent(app))
    return path


def serve(path: Path) -> tuple[Child, str]:
    argv = python_module("compute_emu", "serve", "-C", str(path), "--addr", "127.0.0.1:0", "-q")
    child = Child(pinned(0, argv))
    return child, child.wait_for(r"Listening on (http://\S+)").group(1)


def row(name: str, r: dict[str, float]) -> str:
    return f"| {name} | {r['rps']:,.0f} | {r['p50']:.3f} | {r['p99']:.3f} |"


def fresh_instance_cost(path: Path) -> float:
    """Microseconds to build a fresh module instance of the app (what each request pays)."""
    from compute_emu.runtime.app import App

    app = App(path / "src" / "main.py")
    n = 20000
    return timeit.timeit(app.instantiate, number=n) / n * 1e6


def download(url: str, child: Child) -> tuple[float, int]:
    """(MB/s, peak RSS KiB of the server) for a 1 GiB download through send()."""
    size = 1 << 30
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    started = time.perf_counter()
    conn.request("GET", f"/bytes?n={size}")
    response = conn.getresponse()
    got = 0
    while chunk := response.read(1 << 20):
        got += len(chunk)
    elapsed = time.perf_counter() - started
    conn.close()
    assert got == size, got
    status = Path(f"/proc/{child.pid}/status").read_text()
    peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return size / elapsed / 1e6, peak


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("make bench needs wrk (apt-get install wrk)")
    children: list[Child] = []
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            backend = Child(pinned(1, [sys.executable, str(ROOT / "bench" / "fast_backend.py")]))
            children.append(backend)
            backend_port = int(backend.wait_for(r"PORT (\d+)").group(1))
            hello, hello_url = serve(project(tmp, "hello", HELLO_APP))
            forward, forward_url = serve(project(tmp, "forward", FORWARD_APP, backend_port))
            children += [hello, forward]
            for url in (hello_url, forward_url, f"http://127.0.0.1:{backend_port}/"):
                wrk(url, 1)  # warm-up (also fills the keep-alive pool)

            results = {}
            for c in (1, 50):
                results[("direct", c)] = wrk(f"http://127.0.0.1:{backend_port}/", c)
                results[("hello", c)] = wrk(hello_url + "/", c)
                results[("send", c)] = wrk(forward_url + "/", c)

            print(f"\n## compute-emu benchmark ({SECONDS}s per row, wrk -t1, keep-alive)\n")
            print("| scenario | req/s | p50 ms | p99 ms |\n|---|---|---|---|")
            names = {
                "direct": "backend alone (asyncio, baseline)",
                "hello": "compute-emu, app answers itself",
                "send": "compute-emu, app send()s to the backend",
            }
            for c in (1, 50):
                for key in ("direct", "hello", "send"):
                    print(row(f"{names[key]}, c={c}", results[(key, c)]))
            added = results[("send", 1)]["p50"] - results[("direct", 1)]["p50"]
            print(f"\nadded p50 latency of send() vs the backend directly (c=1): {added:.3f} ms")
            print(f"fresh app instance per request: {fresh_instance_cost(tmp / 'hello'):.1f} µs")

            stream_backend = Child(python_module("tests.support.backend"), cwd=ROOT)
            children.append(stream_backend)
            stream_port = int(stream_backend.wait_for(r"PORT (\d+)").group(1))
            streamer, streamer_url = serve(project(tmp, "stream", FORWARD_APP, stream_port))
            children.append(streamer)
            rate, peak = download(streamer_url, streamer)
            print(f"1 GiB through send(): {rate:,.0f} MB/s, peak RSS {peak / 1024:.0f} MiB")
    finally:
        for child in children:
            child.stop()


if __name__ == "__main__":
    main()
