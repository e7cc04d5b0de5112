"""The publish rows: publish-to-delivery latency, and 9,000 held connections.

Subscribers through compute-emu and straight to the same Pushpin (``Pushpin-Route: origin``)
listen on channels of their own, so both sets can be held at once and their publishes
alternate (the machine's noise falls on both alike). The 9,000 rows hold one set at a time.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time

from . import profile
from .held import Group, Publisher, Tracker, deliver, interleaved, settle
from .procs import descendants, fd_count, status_kib
from .report import Row, fmt
from .servers import ComputeEmu

CE, DIRECT, RELAY = "compute-emu", "Pushpin direct", "nginx relay"
RELAY_TARGETS = {(False, 100), (False, 1000), (True, 100)}  # (websocket?, subscribers)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def gap(longest_ms: float) -> float:
    """Seconds to wait after a delivery, so publishes never queue behind each other."""
    return min(0.2, 0.02 + longest_ms / 1000)


def groups(fanout: ComputeEmu, websocket: bool, tag: str, tracker: Tracker) -> tuple[Group, Group]:
    """A compute-emu group and a Pushpin-direct group, each on a channel of its own."""
    ce = Group(CE, f"ce-{tag}", websocket, fanout.port, None, tracker)
    direct = Group(DIRECT, f"direct-{tag}", websocket, fanout.proxy_port, "origin", tracker)
    return ce, direct


async def publish_for(group: Group, publisher: Publisher, seconds: float) -> None:
    """Publish to ``group`` for ``seconds`` (at most 1,000 messages), for a profile."""
    deadline = time.monotonic() + seconds
    for _ in range(1000):
        if time.monotonic() > deadline:
            return
        latencies, _ = await deliver(group, publisher)
        await asyncio.sleep(gap(max(latencies, default=0)))


async def profiled(fanout: ComputeEmu, group: Group, publisher: Publisher, name: str) -> str:
    """Rerun publishes to ``group`` under py-spy (BENCH_PROFILE=1 only)."""
    if not profile.enabled():
        return ""
    recording = profile.Recording(fanout.pid, name, 5)
    await publish_for(group, publisher, 6)
    return recording.finish()


def relay_row(
    tag: str, scenario: str, got: dict[str, list[float]], relay: str, target: bool
) -> Row:
    """compute-emu against the nginx relay in front of the same Pushpin (<= 1.1x)."""
    p50, base = statistics.median(got[CE]), statistics.median(got[RELAY])
    row = Row(f"publish_relay_p50_{tag}", f"{scenario}, vs a relay", p50, "ms", base, relay)
    row.compare = "ratio"
    if target:
        row.target, row.met = "<= 1.1x", p50 <= 1.1 * base
    direct = statistics.median(got[DIRECT])
    row.extra = {
        "p99": percentile(got[CE], 99),
        "baseline_p99": percentile(got[RELAY], 99),
        "relay_to_direct": base / direct if direct else None,
    }
    return row


async def latency(
    fanout: ComputeEmu, relay_port: int, relay: str, cases: list[tuple[bool, int]], messages: int
) -> tuple[list[Row], dict[str, dict[int, float]]]:
    """Publish-to-delivery p50/p99 per case (websocket?, subscribers), against Pushpin direct
    and against the nginx relay on ``relay_port``; and the plot's points."""
    tracker, publisher = Tracker(), Publisher(fanout.publish_port)
    rows: list[Row] = []
    plot: dict[str, dict[int, float]] = {CE: {}, DIRECT: {}, RELAY: {}}
    try:
        for websocket, count in cases:
            kind = ("WebSocket" if websocket else "HTTP stream") + ("s" if count != 1 else "")
            tag = f"{'ws' if websocket else 'stream'}-{count}"
            fanout.check_alive()
            ce, direct = groups(fanout, websocket, tag, tracker)
            relayed = Group(RELAY, f"relay-{tag}", websocket, relay_port, None, tracker)
            try:
                for group in (ce, direct, relayed):
                    await group.open(count)
                    await settle(group, publisher)
                got = await interleaved([ce, relayed, direct], publisher, messages, gap)
                p50, base = statistics.median(got[CE]), statistics.median(got[DIRECT])
                scenario = f"publish-to-delivery p50, {count:,} held {kind}"
                row = Row(f"publish_p50_{tag}", scenario, p50, "ms", base, DIRECT, "ratio")
                row.target, row.met = "<= 1.1x", p50 <= 1.1 * base
                row.extra = {
                    "p99": percentile(got[CE], 99),
                    "baseline_p99": percentile(got[DIRECT], 99),
                    "messages": messages,
                    "samples": len(got[CE]),
                }
                against = relay_row(tag, scenario, got, relay, (websocket, count) in RELAY_TARGETS)
                if not websocket:
                    plot[CE][count], plot[DIRECT][count] = p50, base
                    plot[RELAY][count] = statistics.median(got[RELAY])
                if row.met is False or against.met is False:
                    against.extra["profile"] = await profiled(
                        fanout, ce, publisher, f"publish-{tag}"
                    )
                rows += [against, row]
                print(f"  {row.scenario}: {p50:.3f} ms vs {base:.3f} ms direct, "
                      f"{against.baseline:.3f} ms relayed")  # fmt: skip
            finally:
                for group in (ce, direct, relayed):
                    await group.close()
                await asyncio.sleep(0.5)
    finally:
        await publisher.close()
    return rows, plot


async def wait_fds(pid: int, target: int, timeout: float = 30.0) -> tuple[int, float]:
    """(compute-emu's fd count, seconds waited) once back to ``target`` or ``timeout`` passed."""
    started = time.monotonic()
    while (count := fd_count(pid)) > target and time.monotonic() < started + timeout:
        await asyncio.sleep(0.25)
    return count, time.monotonic() - started


async def reach_all(
    sets: list[Group], publisher: Publisher, publishes: int
) -> dict[str, tuple[float, float]]:
    """Per group: (median over ``publishes`` of the time to reach all, per-subscriber p50).

    With several groups, their publishes alternate.
    """
    slowest: dict[str, list[float]] = {group.name: [] for group in sets}
    everyone: dict[str, list[float]] = {group.name: [] for group in sets}
    for i in range(publishes):
        for group in sets if i % 2 == 0 else sets[::-1]:
            latencies, missed = await deliver(group, publisher, timeout=60)
            if missed:
                raise RuntimeError(f"{group.name}: a publish missed {missed} of {group.alive()}")
            if not latencies:
                raise RuntimeError(f"{group.name}: all {len(group.subscribers):,} subscribers "
                                   "were closed by the server side")  # fmt: skip
            slowest[group.name].append(max(latencies) / 1000)
            everyone[group.name] += latencies
            await asyncio.sleep(0.5)
    return {
        name: (statistics.median(slowest[name]), statistics.median(everyone[name]))
        for name in slowest
    }


def pushpin_kib(pid: int) -> int:
    """RSS of compute-emu's children (Pushpin's processes)."""
    return sum(status_kib(child) for child in descendants(pid))


async def at_scale(
    fanout: ComputeEmu, websocket: bool, count: int, together: bool, publishes: int = 3
) -> tuple[list[Row], dict[str, float], list[str]]:
    """RSS per held connection, and the time one publish takes to reach them all.

    ``together``: both sets held at once (publishes alternate), else one after the other.
    Returns (rows, {path: per-subscriber p50 in ms}, notes).
    """
    kind = "WebSockets" if websocket else "HTTP streams"
    tag = f"{'ws' if websocket else 'stream'}-{count}"
    tracker, publisher = Tracker(), Publisher(fanout.publish_port)
    ce, direct = groups(fanout, websocket, tag, tracker)
    warm, _ = groups(fanout, websocket, f"warm-{tag}", tracker)
    got: dict[str, tuple[float, float]] = {}
    try:
        await warm.open(20)  # the first handoffs load what they need
        await settle(warm, publisher)
        await warm.close()
        await asyncio.sleep(1)
        fds_before, _ = await wait_fds(fanout.pid, fd_count(fanout.pid))
        rss_before, pushpin_before = status_kib(fanout.pid), pushpin_kib(fanout.pid)
        await ce.open(count)
        await settle(ce, publisher)
        if not together:
            got.update(await reach_all([ce], publisher, publishes))
        rss_held, pushpin_held = status_kib(fanout.pid), pushpin_kib(fanout.pid)
        fds_held, ce_dropped = fd_count(fanout.pid), ce.dropped()
        if not together:
            await ce.close()
        await direct.open(count)
        await settle(direct, publisher)
        pushpin_both = pushpin_kib(fanout.pid)
        got.update(await reach_all([ce, direct] if together else [direct], publisher, publishes))
        rss_held = max(rss_held, status_kib(fanout.pid))  # after the publishes, too
        ce_profile = await profiled(fanout, ce, publisher, f"held-{tag}") if together else ""
        ce_dropped, direct_dropped = max(ce_dropped, ce.dropped()), direct.dropped()
    finally:
        for group in (ce, direct, warm):
            await group.close()
        await publisher.close()
    fds_after, drained = await wait_fds(fanout.pid, fds_before + 10)
    notes = []
    if fds_after > fds_before + 10:
        notes.append(f"compute-emu: {fds_after - fds_before} fds still open 30 s after the "
                     f"{count:,} {kind} closed")  # fmt: skip
    for group in (ce, direct):
        if group.refusals:
            refused = ", ".join(f"{n} x {why}" for why, n in group.refusals.items())
            notes.append(f"{group.name}: opening {count:,} {kind}, refused {refused} (retried)")
    for name, dropped in ((CE, ce_dropped), (DIRECT, direct_dropped)):
        if dropped:
            notes.append(f"{name}: {dropped} of {count:,} held {kind} closed by the server side")

    per = (rss_held - rss_before) / count
    rss = Row(f"rss_{tag}", f"compute-emu RSS per held connection, {count:,} {kind}", per, "KiB")
    rss.target, rss.met = "<= 20 KiB", per <= 20
    pushpin_per = (pushpin_held - pushpin_before) / count
    rss.baseline_name = f"Pushpin's own: {pushpin_per:.1f} KiB each"
    rss.extra = {
        "held_together": together,
        "rss_before_kib": rss_before,
        "rss_held_kib": rss_held,
        "pushpin_kib": [pushpin_before, pushpin_held, pushpin_both if together else None],
        "fds_before": fds_before,
        "fds_held": fds_held,
        "fds_after_close": fds_after,
        "close_drain_seconds": drained,
        "open_seconds": ce.open_seconds,
        "baseline_open_seconds": direct.open_seconds,
        "refused": ce.refusals,
        "baseline_refused": direct.refusals,
    }
    scenario = f"one publish reaches all {count:,} held {kind}"
    (mine, mine_p50), (theirs, theirs_p50) = got[CE], got[DIRECT]
    reach = Row(f"reach_all_{tag}", scenario, mine, "s", theirs, DIRECT, "ratio", "<= 1.3x")
    reach.met = mine <= 1.3 * theirs
    reach.extra = {"p50_ms": mine_p50, "baseline_p50_ms": theirs_p50, "publishes": publishes}
    if ce_profile and (reach.met is False or rss.met is False):
        reach.extra["profile"] = ce_profile
    for row in (rss, reach):
        print(f"  {row.scenario}: {fmt(row.value, row.unit)} ({row.baseline_name})")
    return [rss, reach], {CE: mine_p50, DIRECT: theirs_p50}, notes
