"""`make bench`: every compute-emu scenario next to its baseline, in one run.

compute-emu is measured only through its command line (``python -m compute_emu serve``) and
its ports. Servers (compute-emu and the Pushpin it starts, origins, baselines) are pinned to
CPU 0, wrk and this process's own clients to CPU 1. Results: bench/results/latest.md,
latest.json and publish-latency.png. Compare rows of one run, not runs of different days.

Environment: BENCH_SECONDS (per wrk run, default 5), BENCH_ROUNDS (wrk runs per side,
default 2), BENCH_MESSAGES (publishes per latency row and side, default 20), BENCH_HELD
(connections of the at-scale rows, default 9000), BENCH_PROFILE=1 (py-spy on compute-emu
wherever a target is missed, flame graphs in bench/results/), BENCH_ONLY (comma-separated
scenario keys to run alone: hello, hello_uvicorn, send, ready, handoff, publish, held_streams,
held_ws, official_edit, wasm; publish needs handoff).

The baselines written for speed (bench/baselines.py): nginx relaying to the same Pushpin for
the handoff and publish rows, uvicorn (httptools, uvloop) for the hello rows.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .baselines import INSTALL_NGINX, start_relay, uvicorn_missing
from .official_build import SCENARIO as OFFICIAL_EDIT
from .official_build import official_rows
from .procs import CLIENT_CPU, Proc, stop_all
from .report import RESULTS, Row, machine, plot_latency, write
from .scenarios_fanout import at_scale, latency
from .scenarios_http import Settings, handoff, hello, hello_uvicorn, launch, ready_row, send
from .servers import FANOUT_APP, ComputeEmu, find_nginx, project, python_server, start_origin
from .wasm_rows import wasm_rows


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (children inherit it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def env_number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        sys.exit(f"{name} must be a number")


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class Bench:
    """Runs the scenarios in order; a failing one becomes a failed row, the others go on."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.failed = 0
        self.only = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))

    def run(self, key: str, scenario: str, body: Callable[[], list[Row]]) -> None:
        if self.only and key not in self.only:
            return
        print(f"- {scenario}", flush=True)
        started = time.perf_counter()
        try:
            self.rows += body()
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            traceback.print_exc()
            self.failed += 1
            error = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else repr(exc)
            self.rows.append(Row(key, scenario, None, "", met=False, note=f"failed: {error}"))
        print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)


def main() -> int:
    if len(sys.argv) > 1:  # configured by the environment only (see the module docstring)
        print(__doc__)
        return 0 if sys.argv[1] in ("-h", "--help") else 2
    for tool in ("wrk", "pushpin"):
        if not shutil.which(tool):
            sys.exit(f"make bench needs {tool} (apt-get install {tool})")
    if find_nginx() is None:
        sys.exit(f"make bench needs nginx (the origin and the relay baseline): {INSTALL_NGINX}")
    if why := uvicorn_missing():
        sys.exit(f"make bench: {why}")
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    limit = raise_fd_limit()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > CLIENT_CPU:
        os.sched_setaffinity(0, {CLIENT_CPU})
    settings = Settings(env_number("BENCH_SECONDS", 5), int(env_number("BENCH_ROUNDS", 2)))
    messages = int(env_number("BENCH_MESSAGES", 20))
    held = int(env_number("BENCH_HELD", 9000))
    # compute-emu: 2 fds per held connection; this client: 1 per connection and path
    together = 2 * held + 200 <= limit
    if not together:
        print(f"  fd limit {limit}: the {held:,} held connections of each path in turns")
    info = machine()
    info["fd_limit"] = limit
    bench = Bench()
    plot: dict[str, dict[int, float]] = {}
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp_name:
            tmp = Path(tmp_name)
            origin, origin_port, origin_name = start_origin(tmp)
            info["origin"] = origin_name
            grip, grip_port = python_server("grip_origin.py")
            bench.run("hello", "hello (vs bare anyio+h11)", lambda: hello(tmp, settings))
            bench.run("hello_uvicorn", "hello, access log on (vs uvicorn)",
                      lambda: hello_uvicorn(tmp, settings))  # fmt: skip
            bench.run("send", f"send() (vs {origin_name})",
                      lambda: send(tmp, origin_port, origin_name, settings))  # fmt: skip
            origin.stop()

            ready_samples: list[float] = []
            ready_failures: list[str] = []

            def launches() -> list[Row]:
                launch(tmp, grip_port, ready_samples, ready_failures, 3)
                return []

            bench.run("ready", "ready time (compute-emu serve with Pushpin, 3 launches)", launches)

            def fanout_path(name: str) -> Path:
                path = tmp / name
                return path if path.exists() else project(tmp, name, FANOUT_APP, grip_port, True)

            fanouts: list[ComputeEmu] = []  # the one shared by the handoff and latency rows
            relays: list[tuple[Proc, int, str]] = []  # nginx in front of its Pushpin

            def handoff_rows() -> list[Row]:
                fanouts.append(ComputeEmu(fanout_path("fanout"), pushpin=True))
                ready_samples.append(fanouts[0].ready_seconds)
                relays.append(start_relay(tmp, fanouts[0].proxy_port))
                return handoff(fanouts[0], relays[0][1], relays[0][2], settings)

            def latency_rows() -> list[Row]:
                if not fanouts or not relays:
                    raise RuntimeError("compute-emu with Pushpin, or its relay, did not start")
                cases = [(False, 1), (False, 100), (False, 1000), (True, 100)]
                _, port, name = relays[0]
                rows, points = asyncio.run(latency(fanouts[0], port, name, cases, messages))
                plot.update(points)
                return rows

            bench.run("handoff", "Fanout handoff (vs an nginx relay, Pushpin's port)", handoff_rows)
            bench.run("publish", "publish-to-delivery (vs an nginx relay, Pushpin direct)",
                      latency_rows)  # fmt: skip
            for relay, _, _ in relays:
                relay.stop()
            for fanout in fanouts:
                fanout.stop()

            def scale_rows(websocket: bool) -> list[Row]:
                fanout = ComputeEmu(fanout_path("held"), pushpin=True)
                ready_samples.append(fanout.ready_seconds)
                try:
                    rows, points, notes = asyncio.run(at_scale(fanout, websocket, held, together))
                finally:
                    took = fanout.stop()
                    if took > 5:
                        kind = "WebSockets" if websocket else "streams"
                        bench.notes.append(f"compute-emu took {took:.0f} s to stop after {kind}")
                bench.notes += notes
                if not websocket:
                    for name, value in points.items():
                        plot.setdefault(name, {})[held] = value
                return rows

            bench.run("held_streams", f"{held:,} held HTTP streams", lambda: scale_rows(False))
            bench.run("held_ws", f"{held:,} held WebSockets", lambda: scale_rows(True))
            bench.run("official_edit", OFFICIAL_EDIT, lambda: official_rows(tmp))
            bench.run(
                "wasm", "the Wasm path: build, start, hello", lambda: wasm_rows(tmp, settings)
            )
            bench.run("ready", "ready time", lambda: [ready_row(ready_samples, ready_failures)])
            grip.stop()
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every process the bench started", file=sys.stderr)
        stop_all()
        return 130
    finally:
        stop_all()

    info["wall_seconds"] = time.perf_counter() - started
    info["notes"] = bench.notes
    RESULTS.mkdir(exist_ok=True)
    drawn = plot_latency(plot, RESULTS / "publish-latency.png") if plot else "no data"
    info["plot"] = f"bench/results/publish-latency.png ({drawn})"
    print("\n" + write(bench.rows, info, {k: dict(v) for k, v in plot.items()}))
    print(f"written: {RESULTS}/latest.md, latest.json, publish-latency.png")
    return 1 if bench.failed else 0


if __name__ == "__main__":
    sys.exit(main())
