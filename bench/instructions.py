"""Instructions per request (valgrind's callgrind): a measure the machine's load does not move.

On a shared two-core machine a latency or a CPU time moves by ±15 % or more between runs; the
instructions a server executes per request move by a few per cent. Each scenario starts the
server under ``valgrind --tool=callgrind --instr-atstart=no`` (its children, Pushpin's
processes, run natively), sends warm-up requests, turns counting on, sends ``--requests``
requests one after another on one keep-alive connection and divides the instructions counted
(every thread of the process) by them. Slower by ~50x, so timers fire more often per request
than at full speed: compare figures of this tool with each other, not with wall time.

- ``hello``: compute-emu answering from the app, with its request log (as a user runs it);
- ``uvicorn``: uvicorn (httptools, uvloop) answering the ASGI hello, with its access log;
- ``handoff``: a short GET handed off to Pushpin (``-q``), Pushpin not counted.

    .venv/bin/python -m bench.instructions [hello uvicorn handoff] [--requests 300]
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/instructions.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .procs import Proc, free_port, stop_all
from .servers import FANOUT_APP, HELLO_APP, project, python_server


def server_argv(scenario: str, tmp: Path) -> tuple[list[str], str, str, int]:
    """(argv, the line that says it listens, the path to request, port or 0 to read it)."""
    if scenario == "uvicorn":
        port = free_port()
        argv = ["-m", "uvicorn", "bench.asgi_hello:app", "--host", "127.0.0.1"]
        argv += ["--port", str(port), "--http", "httptools", "--loop", "uvloop"]
        return argv, "Uvicorn running", "/", port
    argv = ["-m", "compute_emu", "serve", "--addr", "127.0.0.1:0"]
    if scenario == "hello":
        argv += ["-C", str(project(tmp, "hello", HELLO_APP, None, pushpin=False))]
        return argv, r"Listening on http://\S+:(\d+)", "/", 0
    _, origin = python_server("grip_origin.py")
    argv += ["-C", str(project(tmp, "fanout", FANOUT_APP, origin, pushpin=True)), "-q"]
    argv += ["--pushpin-proxy-port", str(free_port())]
    argv += ["--pushpin-publish-port", str(free_port())]
    return argv, r"Listening on http://\S+:(\d+)", "/info", 0


def measure(scenario: str, requests: int, tmp: Path) -> float:
    """Instructions per request of the server of ``scenario``."""
    argv, ready, path, port = server_argv(scenario, tmp)
    out = tmp / f"callgrind-{scenario}"
    out.mkdir()
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
    server = Proc([*valgrind, f"--callgrind-out-file={out}/out.%p", sys.executable, *argv])
    listening = server.wait_for(ready, timeout=300)
    port = port or int(listening.group(1))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def send(n: int) -> None:
        for _ in range(n):
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{scenario}: GET {path} answered {response.status}")

    try:
        send(30)  # warm-up: what the first requests load
        subprocess.run(["callgrind_control", "-i", "on", str(server.pid)], check=True,
                       capture_output=True)  # fmt: skip
        send(requests)
        subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True,
                       capture_output=True)  # fmt: skip
        deadline = time.monotonic() + 30
        while not (dumps := list(out.glob("out.*.*"))) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        conn.close()
        server.stop()
    total = 0
    for dump in dumps:
        found = re.search(r"^(?:totals|summary):\s+(\d+)", dump.read_text(errors="replace"), re.M)
        total += int(found.group(1)) if found else 0
    if not total:
        raise RuntimeError(f"{scenario}: callgrind counted nothing ({out})")
    return total / requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", default=["hello", "uvicorn", "handoff"])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    for tool in ("valgrind", "callgrind_control"):
        if not shutil.which(tool):
            sys.exit(f"bench.instructions needs {tool}: apt-get install valgrind")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp:
            for scenario in args.scenarios:
                per = measure(scenario, args.requests, Path(tmp))
                print(f"{scenario}: {per / 1000:,.0f}k instructions per request", flush=True)
    finally:
        stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
