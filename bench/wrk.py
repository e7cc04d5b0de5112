"""wrk, one thread, keep-alive, pinned to the client CPU: requests/s and latency percentiles."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .procs import CLIENT_CPU, Proc

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: requests/s, p50 and p99 in ms, and errors (non-2xx or socket errors)."""

    rps: float
    p50: float
    p99: float
    errors: str = ""


def parse(out: str) -> WrkResult:
    """wrk's ``--latency`` report parsed."""

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            raise RuntimeError(f"no {pct}% line in wrk's output:\n{out}")
        return float(match.group(1)) * UNITS[match.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not rps:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{out}")
    errors = re.findall(r"Non-2xx or 3xx responses: \d+|Socket errors: .*", out)
    return WrkResult(float(rps.group(1)), latency("50"), latency("99"), "; ".join(errors))


def wrk(url: str, connections: int, seconds: float, headers: tuple[str, ...] = ()) -> WrkResult:
    """Run wrk against ``url`` for ``seconds`` (bounded: killed 30 s past its duration)."""
    extra = [arg for header in headers for arg in ("-H", header)]
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", *extra, url]
    proc = Proc(argv, cpu=CLIENT_CPU)
    try:
        proc.wait(seconds + 30)
    finally:
        proc.stop()
    result = parse(proc.output)
    if result.errors:
        print(f"  ! wrk {url} c={connections}: {result.errors}")
    return result
