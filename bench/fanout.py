"""`make bench` (Fanout part): handoff latency and held streams, with the real Pushpin.

- latency: the same GRIP origin request (a plain, non-held response) sent to Pushpin's proxy
  port directly with `Pushpin-Route`, and through compute-emu's `handoff_fanout`; the
  difference is what the handoff adds;
- held streams: N HTTP streams held open through compute-emu at once (opened in paced
  batches, as Pushpin refuses bursts), compute-emu's memory with them held, and how long one
  publish takes to reach all of them.
"""

from __future__ import annotations

import asyncio
import re
import socket
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import pinned, wrk  # noqa: E402
from tests.support.processes import Child, descendants, python_module  # noqa: E402

APP = """
from compute_emu.sdk import Request
def main():
    Request.from_client().handoff_fanout("origin")
"""
STREAMS = 2000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]


async def hold_streams(url: str, count: int) -> list[asyncio.StreamReader]:
    host, port = url.removeprefix("http://").split(":")
    readers: list[asyncio.StreamReader] = []
    writers = []

    async def open_one() -> bool:
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /stream HTTP/1.1\r\nHost: bench\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"stream open\n"), 10)
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                writer.close()
                return False
            readers.append(reader)
            writers.append(writer)
            return True
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            return False

    while len(readers) < count:
        batch = min(50, count - len(readers))
        await asyncio.gather(*(open_one() for _ in range(batch)))
    hold_streams.writers = writers  # type: ignore[attr-defined]
    return readers


async def wait_all(readers: list[asyncio.StreamReader], marker: bytes) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(r.readuntil(marker) for r in readers))
    return time.perf_counter() - started


def main() -> None:
    children: list[Child] = []
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            origin = Child(pinned(1, python_module("tests.support.grip_origin")), cwd=ROOT)
            children.append(origin)
            origin_port = int(origin.wait_for(r"PORT (\d+)").group(1))
            project = Path(tmp_name) / "fanout"
            (project / "src").mkdir(parents=True)
            (project / "fastly.toml").write_text(
                'manifest_version = 3\nname = "bench"\n[local_server.pushpin]\nenable = true\n'
                f'[local_server.backends.origin]\nurl = "http://127.0.0.1:{origin_port}/"\n'
            )
            (project / "src" / "main.py").write_text(textwrap.dedent(APP))
            proxy, publish = free_port(), free_port()
            started = time.perf_counter()
            serve = Child(
                pinned(
                    0,
                    python_module(
                        "compute_emu",
                        "serve",
                        "-C",
                        str(project),
                        "--addr",
                        "127.0.0.1:0",
                        "-q",
                        "--pushpin-proxy-port",
                        str(proxy),
                        "--pushpin-publish-port",
                        str(publish),
                    ),
                )
            )
            children.append(serve)
            url = serve.wait_for(r"Listening on (http://\S+)", timeout=30).group(1)
            ready = time.perf_counter() - started

            direct = f"http://127.0.0.1:{proxy}/info"
            route = ("Pushpin-Route: origin",)  # what the handoff adds
            wrk(direct, 1, route), wrk(url + "/info", 1)  # warm-up
            rows = {}
            for c in (1, 10):
                rows[("Pushpin directly", c)] = wrk(direct, c, route)
                rows[("through handoff_fanout", c)] = wrk(url + "/info", c)
            print("\n## Fanout handoff (GRIP origin /info, not held)\n")
            print("| path | c | req/s | p50 ms | p99 ms |\n|---|---|---|---|---|")
            for (name, c), r in rows.items():
                print(f"| {name} | {c} | {r['rps']:,.0f} | {r['p50']:.3f} | {r['p99']:.3f} |")
            added = (
                rows[("through handoff_fanout", 1)]["p50"] - rows[("Pushpin directly", 1)]["p50"]
            )
            print(
                f"\nadded p50 latency of a handoff vs Pushpin's port directly (c=1): {added:.3f} ms"
            )
            print(f"compute-emu with Pushpin: 'Listening' {ready:.2f} s after start")

            print(asyncio.run(run_streams(url, publish, serve.pid)))
    finally:
        for child in children:
            child.stop()


async def run_streams(url: str, publish: int, pid: int) -> str:
    before = rss_kib(pid)
    opened = time.perf_counter()
    readers = await hold_streams(url, STREAMS)
    open_time = time.perf_counter() - opened
    await asyncio.sleep(1)
    held = rss_kib(pid)
    pushpin = sum(rss_kib(p) for p in descendants(pid))
    async with httpx.AsyncClient() as client:
        waiting = asyncio.ensure_future(wait_all(readers, b"bench-message"))
        await asyncio.sleep(0.1)
        await client.post(
            f"http://127.0.0.1:{publish}/publish/",
            json={
                "items": [
                    {"channel": "test", "formats": {"http-stream": {"content": "bench-message\n"}}}
                ]
            },
        )
        delivered = await asyncio.wait_for(waiting, 60)
    for writer in hold_streams.writers:  # type: ignore[attr-defined]
        writer.close()
    return (
        f"held {len(readers)} streams through compute-emu (opened in {open_time:.1f} s, in "
        f"batches of 50); one publish reached all in {delivered:.2f} s\n"
        f"compute-emu RSS {before / 1024:.0f} MiB idle -> {held / 1024:.0f} MiB held "
        f"({(held - before) / len(readers):.1f} KiB per stream); Pushpin's processes "
        f"{pushpin / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
