"""`make soak`: 1,000 held streams, continuous publishing and pass-through requests, for long.

Runs compute-emu with the real Pushpin and the bench's GRIP origin, holds SOAK_STREAMS (1,000)
HTTP streams through it, then for SOAK_SECONDS (600) publishes one message after another (each
must reach every held stream: none may be lost) while a second task sends short handed-off
requests (SOAK_PUBLISH=0 or SOAK_PASS_THROUGH=0 leave one of them out, to tell which one
a growth comes from). Every 10 s it samples compute-emu's fds, threads and RSS. It fails
(exit 1) if a message was lost, if a pass-through request failed, or if the last samples are
not within a small bound of the first ones (fds +-16, threads <= first + 16, RSS <= first + 16 MiB).
Results go to bench/results/soak.json. Everything on 127.0.0.1, stopped by PID.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/soak.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .held import Group, Publisher, Tracker, deliver, settle
from .procs import fd_count, status_kib, stop_all
from .report import RESULTS
from .run import raise_fd_limit
from .servers import FANOUT_APP, ComputeEmu, project, python_server

SAMPLE_EVERY = 10.0


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


async def pass_through(port: int, stop: asyncio.Event, counts: dict[str, int]) -> None:
    """Short handed-off requests (Fanout, not held) on one kept-alive connection, until stop."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while not stop.is_set():
            writer.write(b"GET /info HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            counts["ok" if b" 200 " in head.split(b"\r\n", 1)[0] else "failed"] += 1
            await asyncio.sleep(0.01)
    finally:
        writer.close()


async def soak(
    seconds: float, streams: int, publishing: bool = True, passing: bool = True
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp_name:
        origin, origin_port = python_server("grip_origin.py")
        emu = ComputeEmu(project(Path(tmp_name), "soak", FANOUT_APP, origin_port, True), True)
        tracker, publisher = Tracker(), Publisher(emu.publish_port)
        group = Group("compute-emu", "soak", False, emu.port, None, tracker)
        await group.open(streams)
        await settle(group, publisher)
        pid = emu.pid
        samples: list[dict[str, float]] = []
        counts = {"ok": 0, "failed": 0}
        stop = asyncio.Event()
        requests = asyncio.ensure_future(
            pass_through(emu.port, stop, counts) if passing else stop.wait()
        )
        published = lost = 0
        started = time.monotonic()
        next_sample = started
        while time.monotonic() - started < seconds:
            if time.monotonic() >= next_sample:
                samples.append(
                    {
                        "t": round(time.monotonic() - started, 1),
                        "fds": fd_count(pid),
                        "threads": threads(pid),
                        "rss_kib": status_kib(pid),
                        "held": group.alive(),
                    }
                )
                print(f"  {samples[-1]}", flush=True)
                next_sample += SAMPLE_EVERY
            if publishing:
                _, missed = await deliver(group, publisher, timeout=10)
                published += 1
                lost += missed
            else:
                await asyncio.sleep(0.05)
            emu.check_alive()
        stop.set()
        await requests
        await group.close()
        emu.stop()
        origin.stop()
    first, last = samples[0], samples[-1]
    problems = []
    if lost:
        problems.append(f"{lost} deliveries lost")
    if counts["failed"]:
        problems.append(f"{counts['failed']} pass-through requests failed")
    if abs(last["fds"] - first["fds"]) > 16:
        problems.append(f"fds {first['fds']} -> {last['fds']}")
    if last["threads"] > first["threads"] + 16:
        problems.append(f"threads {first['threads']} -> {last['threads']}")
    if last["rss_kib"] > first["rss_kib"] + 16 * 1024:
        problems.append(f"RSS {first['rss_kib']} -> {last['rss_kib']} KiB")
    return {
        "seconds": seconds,
        "held_streams": streams,
        "published": published,
        "deliveries": published * streams,
        "lost": lost,
        "pass_through": counts,
        "samples": samples,
        "problems": problems,
    }


def main() -> None:
    raise_fd_limit()
    seconds = float(os.environ.get("SOAK_SECONDS", 600))
    streams = int(os.environ.get("SOAK_STREAMS", 1000))
    try:
        result = asyncio.run(
            soak(
                seconds,
                streams,
                os.environ.get("SOAK_PUBLISH", "1") != "0",
                os.environ.get("SOAK_PASS_THROUGH", "1") != "0",
            )
        )
    finally:
        stop_all()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    first, last = result["samples"][0], result["samples"][-1]  # type: ignore[index]
    print(
        f"soak: {result['published']} publishes to {streams} streams in {seconds:g} s, "
        f"{result['lost']} lost; pass-through {result['pass_through']}; "
        f"fds {first['fds']} -> {last['fds']}, threads {first['threads']} -> "
        f"{last['threads']}, RSS {first['rss_kib']} -> {last['rss_kib']} KiB"
    )
    if result["problems"]:
        sys.exit("soak failed: " + "; ".join(result["problems"]))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
