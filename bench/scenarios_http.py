"""The request rows: hello, send(), a 1 GiB body, a Fanout handoff, and the ready time.

Each compute-emu figure is measured next to its baseline, alternating between the two, in
rounds; the best of the rounds is kept for each (noise on a shared machine only slows).
"""

from __future__ import annotations

import http.client
import statistics
import time
from pathlib import Path

from . import profile
from .baselines import start_uvicorn
from .procs import status_kib
from .report import Row
from .servers import (
    BIG_PATH,
    BIG_SIZE,
    FANOUT_APP,
    HELLO_APP,
    SEND_APP,
    SMALL_PATH,
    ComputeEmu,
    project,
    python_server,
)
from .wrk import WrkResult, wrk

MIB = 1024.0


class Settings:
    """How long and how often the wrk rows run (BENCH_SECONDS, BENCH_ROUNDS)."""

    def __init__(self, seconds: float, rounds: int) -> None:
        self.seconds = seconds
        self.rounds = rounds


def alternate(
    urls: dict[str, str], connections: int, settings: Settings, headers: dict[str, tuple[str, ...]]
) -> dict[str, WrkResult]:
    """wrk on each URL in turn, ``rounds`` times; the best p50 and best req/s of each."""
    runs: dict[str, list[WrkResult]] = {name: [] for name in urls}
    for i in range(settings.rounds):
        for name in list(urls) if i % 2 == 0 else list(urls)[::-1]:
            runs[name].append(wrk(urls[name], connections, settings.seconds, headers.get(name, ())))
    return {
        name: WrkResult(
            max(r.rps for r in results),
            min(r.p50 for r in results),
            min(r.p99 for r in results),
            "; ".join(r.errors for r in results if r.errors),
        )
        for name, results in runs.items()
    }


def profile_wrk(pid: int, name: str, url: str, connections: int, settings: Settings) -> str:
    """Rerun one wrk load under py-spy (BENCH_PROFILE=1 only); the flame graph's path."""
    if not profile.enabled():
        return ""
    recording = profile.Recording(pid, name, settings.seconds)
    wrk(url, connections, settings.seconds + 1)
    return recording.finish()


def latency_row(
    key: str, scenario: str, ce: WrkResult, base: WrkResult, name: str, limit: float
) -> Row:
    """A p50 row whose target is an added latency of at most ``limit`` ms."""
    row = Row(key, scenario, ce.p50, "ms", base.p50, name, "added", f"<= +{limit:g} ms")
    row.met = ce.p50 - base.p50 <= limit
    row.extra = {"p99": ce.p99, "baseline_p99": base.p99, "rps": ce.rps, "baseline_rps": base.rps}
    return row


def hello_loads(
    ce: ComputeEmu, base_port: int, settings: Settings
) -> tuple[dict[str, str], dict[str, WrkResult], dict[str, WrkResult]]:
    """(URLs, wrk at 50 connections, wrk at 1) on compute-emu and the baseline, alternating."""
    urls = {"ce": ce.url + "/", "base": f"http://127.0.0.1:{base_port}/"}
    for url in urls.values():
        wrk(url, 50, 1)  # warm-up
    return urls, alternate(urls, 50, settings, {}), alternate(urls, 1, settings, {})


def hello(tmp: Path, settings: Settings) -> list[Row]:
    """The app answers by itself, against a bare anyio + h11 server."""
    base_proc, base_port = python_server("bare_server.py")
    ce = ComputeEmu(project(tmp, "hello", HELLO_APP, None, pushpin=False))
    try:
        urls, many, one = hello_loads(ce, base_port, settings)
        rps = Row("hello_rps_c50", "hello answered by the app, 50 conns", many["ce"].rps, "req/s")
        rps.baseline, rps.baseline_name, rps.compare = many["base"].rps, "bare anyio+h11", "ratio"
        rps.target, rps.met = ">= 0.6x", many["ce"].rps >= 0.6 * many["base"].rps
        rps.extra = {"p50": many["ce"].p50, "baseline_p50": many["base"].p50}
        p50 = latency_row(
            "hello_p50_c1", "hello, 1 conn, p50", one["ce"], one["base"], "bare anyio+h11", 0.065
        )
        if rps.met is False:
            rps.extra["profile"] = profile_wrk(ce.pid, "hello-c50", urls["ce"], 50, settings)
        if p50.met is False:
            p50.extra["profile"] = profile_wrk(ce.pid, "hello-c1", urls["ce"], 1, settings)
        return [rps, p50]
    finally:
        ce.stop()
        base_proc.stop()


def ratio_row(
    key: str, scenario: str, ce: WrkResult, base: WrkResult, name: str, floor: float
) -> Row:
    """A requests/s row whose target is at least ``floor`` times the baseline's."""
    row = Row(key, scenario, ce.rps, "req/s", base.rps, name, "ratio", f">= {floor:g}x")
    row.met = ce.rps >= floor * base.rps
    row.extra = {"p50_ms": ce.p50, "baseline_p50_ms": base.p50, "p99_ms": ce.p99}
    row.extra["baseline_p99_ms"] = base.p99
    return row


def hello_uvicorn(tmp: Path, settings: Settings) -> list[Row]:
    """The app answers by itself, against uvicorn's ASGI hello; both log every request."""
    base_proc, base_port, name = start_uvicorn()
    ce = ComputeEmu(project(tmp, "hello-logged", HELLO_APP, None, pushpin=False), quiet=False)
    try:
        urls, many, one = hello_loads(ce, base_port, settings)
        rows = [
            ratio_row("hello_uvicorn_c50", "hello, access log on, 50 conns", many["ce"],
                      many["base"], name, 0.6),
            ratio_row("hello_uvicorn_c1", "hello, access log on, 1 conn", one["ce"],
                      one["base"], name, 0.8),
        ]  # fmt: skip
        for row, conns in zip(rows, (50, 1), strict=True):
            if row.met is False:
                row.extra["profile"] = profile_wrk(
                    ce.pid, f"hello-logged-c{conns}", urls["ce"], conns, settings
                )
        return rows
    finally:
        ce.stop()
        base_proc.stop()


def download(url: str, timeout: float = 120.0) -> float:
    """MB/s of one GET of the 1 GiB body (bounded by ``timeout``)."""
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    started = time.perf_counter()
    try:
        conn.request("GET", BIG_PATH)
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {url}{BIG_PATH}: {response.status}")
        buffer = memoryview(bytearray(1 << 20))
        got = 0
        while n := response.readinto(buffer):
            got += n
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"1 GiB download slower than {timeout} s")
    finally:
        conn.close()
    if got != BIG_SIZE:
        raise RuntimeError(f"1 GiB download got {got} bytes")
    return BIG_SIZE / (time.perf_counter() - started) / 1e6


def send(tmp: Path, origin_port: int, origin_name: str, settings: Settings) -> list[Row]:
    """send("origin") against the origin directly; then a 1 GiB body through send()."""
    ce = ComputeEmu(project(tmp, "send", SEND_APP, origin_port, pushpin=False))
    try:
        urls = {"ce": ce.url + SMALL_PATH, "base": f"http://127.0.0.1:{origin_port}{SMALL_PATH}"}
        for url in urls.values():
            wrk(url, 1, 1)  # warm-up (and the pooled connection)
        one = alternate(urls, 1, settings, {})
        name = origin_name.split(" (")[0]
        p50 = latency_row("send_p50_c1", 'send("origin"), 1 conn, p50', one["ce"], one["base"],
                          f"{name} direct", 0.3)  # fmt: skip
        if p50.met is False:
            p50.extra["profile"] = profile_wrk(ce.pid, "send-c1", urls["ce"], 1, settings)

        idle = status_kib(ce.pid, "VmHWM")
        download(f"http://127.0.0.1:{origin_port}")  # warm-up: the origin's page cache
        direct = download(f"http://127.0.0.1:{origin_port}")
        through = download(ce.url)
        peak = status_kib(ce.pid, "VmHWM")
        rate = Row("send_1gib_rate", "1 GiB body through send()", through, "MB/s", direct,
                   f"{name} direct", "ratio", ">= 200 MB/s", through >= 200)  # fmt: skip
        if rate.met is False and profile.enabled():
            recording = profile.Recording(ce.pid, "send-1gib", BIG_SIZE / 1e6 / through)
            download(ce.url)
            rate.extra["profile"] = recording.finish()
        growth = (peak - idle) / MIB
        memory = Row("send_1gib_rss", "compute-emu peak RSS over the 1 GiB body", peak / MIB,
                     "MiB", idle / MIB, "peak before it", "added", "flat: <= +64 MiB",
                     growth <= 64)  # fmt: skip
        return [p50, rate, memory]
    finally:
        ce.stop()


def handoff(fanout: ComputeEmu, relay_port: int, relay: str, settings: Settings) -> list[Row]:
    """handoff_fanout of a short GET against the nginx relay in front of the same Pushpin,
    and against Pushpin's proxy port with Pushpin-Route."""
    fanout.check_alive()
    urls = {
        "ce": fanout.url + "/info",
        "relay": f"http://127.0.0.1:{relay_port}/info",
        "base": f"http://127.0.0.1:{fanout.proxy_port}/info",
    }
    headers: dict[str, tuple[str, ...]] = {"base": ("Pushpin-Route: origin",)}
    for name, url in urls.items():
        wrk(url, 1, 1, headers.get(name, ()))  # warm-up
    one = alternate(urls, 1, settings, headers)
    scenario = "Fanout handoff of a short GET, 1 conn, p50"
    relayed = latency_row("handoff_relay_p50_c1", f"{scenario}, vs a relay", one["ce"],
                          one["relay"], relay, 0.15)  # fmt: skip
    relayed.extra["relay_added_to_direct"] = one["relay"].p50 - one["base"].p50
    row = latency_row("handoff_p50_c1", scenario, one["ce"], one["base"],
                      "Pushpin's port direct", 0.3)  # fmt: skip
    if relayed.met is False or row.met is False:
        relayed.extra["profile"] = profile_wrk(fanout.pid, "handoff-c1", urls["ce"], 1, settings)
    return [relayed, row]


def launch(tmp: Path, origin_port: int, times: list[float], failures: list[str], n: int) -> None:
    """Start and stop `compute-emu serve` with Pushpin ``n`` times: ready times, failures."""
    path = tmp / "ready"
    if not path.exists():
        project(tmp, "ready", FANOUT_APP, origin_port, pushpin=True)
    for _ in range(n):
        try:
            ce = ComputeEmu(path, pushpin=True)
        except RuntimeError as exc:
            error = next((line for line in str(exc).splitlines() if "rror" in line), str(exc))
            failures.append(error.strip()[:160])
            continue
        times.append(ce.ready_seconds)
        ce.stop()


def ready_row(times: list[float], failures: list[str]) -> Row:
    """From launching `compute-emu serve` with Pushpin to its "Listening on" line."""
    if not times:
        raise RuntimeError(f"no launch got ready: {failures}")
    median = statistics.median(times)
    row = Row("ready", f"ready, Pushpin included (median of {len(times)} launches)", median, "s")
    row.target, row.met = "<= 1 s", median <= 1.0 and not failures
    if failures:
        row.note = f"{len(failures)} launch(es) failed: {failures[0]}"
    row.extra = {"launches": times, "max": max(times), "failures": failures}
    return row
