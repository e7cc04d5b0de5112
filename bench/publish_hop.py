"""What compute-emu's publish port costs: publish-to-delivery latency through it and straight
to Pushpin's private publish API, in one run, to the same held streams.

    python -m bench.publish_hop [--messages 200] [--counts 1,100]

One ``compute-emu serve`` with Pushpin; for each count, that many HTTP streams are held
through the app on one channel, then ``--messages`` publishes go to each path, alternating
(the machine's noise falls on both alike), each waited for before the next. A publisher
connects first and then takes the send time (as ``bench/held.py`` does), so the figures are
the request through the port(s), Pushpin's fan-out and the delivery through the app.
Prints a table and writes ``bench/results/publish_hop.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
from pathlib import Path

from .held import Group, Publisher, Tracker, deliver, settle
from .procs import ROOT, descendants, stop_all
from .scenarios_fanout import gap, percentile
from .servers import FANOUT_APP, ComputeEmu, project, python_server

GUARD, DIRECT = "through compute-emu's publish port", "straight to Pushpin's API"


def pushpin_api_port(fanout: ComputeEmu) -> int:
    """Pushpin's private publish port, from the pushpin.conf its runner was started with."""
    for pid in descendants(fanout.pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for arg in argv:
            if arg.startswith(b"--config="):
                conf = Path(arg.removeprefix(b"--config=").decode()).read_text()
                match = re.search(r"^push_in_http_port=(\d+)$", conf, re.MULTILINE)
                if match:
                    return int(match.group(1))
    raise RuntimeError("cannot find Pushpin's publish port")


async def measure(fanout: ComputeEmu, counts: list[int], messages: int) -> list[dict[str, object]]:
    publishers = {
        GUARD: Publisher(fanout.publish_port),
        DIRECT: Publisher(pushpin_api_port(fanout)),
    }
    tracker, results = Tracker(), []
    for count in counts:
        group = Group("compute-emu", f"hop-{count}", False, fanout.port, None, tracker)
        try:
            await group.open(count)
            await settle(group, publishers[DIRECT])
            got: dict[str, list[float]] = {GUARD: [], DIRECT: []}
            reach: dict[str, list[float]] = {GUARD: [], DIRECT: []}
            names = list(publishers)
            for i in range(messages):
                for name in names if i % 2 == 0 else names[::-1]:
                    latencies, missed = await deliver(group, publishers[name])
                    if missed:
                        raise RuntimeError(f"{name}: message {i} missed {missed} of {count}")
                    got[name] += latencies
                    reach[name].append(max(latencies))
                    await asyncio.sleep(gap(max(latencies)))
            row: dict[str, object] = {"held": count, "messages": messages}
            for name in names:
                row[name] = {
                    "p50_ms": statistics.median(got[name]),
                    "p99_ms": percentile(got[name], 99),
                    "reach_all_p50_ms": statistics.median(reach[name]),
                }
            results.append(row)
            p50 = {name: statistics.median(got[name]) for name in names}
            print(f"  {count:>4} held: p50 {p50[GUARD]:.3f} ms vs {p50[DIRECT]:.3f} ms direct "
                  f"(+{p50[GUARD] - p50[DIRECT]:.3f} ms)", flush=True)  # fmt: skip
        finally:
            await group.close()
            await asyncio.sleep(0.5)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--counts", default="1,100")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    try:
        with tempfile.TemporaryDirectory(prefix="bench-hop-") as tmp:
            _, grip_port = python_server("grip_origin.py")
            fanout = ComputeEmu(project(Path(tmp), "hop", FANOUT_APP, grip_port, True), True)
            results = asyncio.run(measure(fanout, counts, args.messages))
            fanout.stop()
    finally:
        stop_all()
    print(f"\n| held streams | p50 {GUARD} | p50 {DIRECT} | extra | p99 port / direct |")
    print("|---:|---:|---:|---:|---:|")
    for row in results:
        g, d = row[GUARD], row[DIRECT]
        assert isinstance(g, dict) and isinstance(d, dict)
        extra = g["p50_ms"] - d["p50_ms"]
        p99 = f"{g['p99_ms']:.2f} / {d['p99_ms']:.2f} ms"
        p50 = f"{g['p50_ms']:.3f} ms | {d['p50_ms']:.3f} ms"
        print(f"| {row['held']} | {p50} | {extra:+.3f} ms | {p99} |")
    out = ROOT / "bench" / "results" / "publish_hop.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
