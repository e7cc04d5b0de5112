"""Slow clients against compute-emu: what they hold, and whether others are still served.

    python -m bench.drip [--attack upload|stream|body] [--clients 270] [--length 1000]
                         [--seconds 20] [-- SERVE FLAGS...]

One ``compute-emu serve`` of an app whose ``main()`` reads the request body (``/upload``),
streams 10 MiB with ``stream_to_client()`` (``/stream``) or answers 8 MiB at once (``/body``).
``--clients`` connections each either send ``POST /upload`` with ``Content-Length: --length``
and then one byte a second (``upload``, the default), or ask for ``/stream`` or ``/body`` and
never read the answer (``stream``, ``body``); a client that gets an answer (or is closed)
connects again at once, so the attack keeps its size. Meanwhile a well-behaved client asks
``GET /fast`` every second with a 5 s limit. Every second the server's threads, file
descriptors and RSS are sampled. Prints a line a second and a summary (threads, fds, RSS,
/fast served and its times, the answers the attackers got) and writes
``bench/results/drip-ATTACK.json``. Flags after ``--`` go to ``serve`` (``--body-timeout 3``
is the default, as in the attack that found this).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .procs import ROOT, Proc, fd_count, status_kib, stop_all
from .servers import project

APP = """
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    if req.get_path() == "/upload":
        Response.from_body(str(len(req.take_body_bytes()))).send_to_client()
        return
    if req.get_path() == "/stream":
        body = Response().stream_to_client()
        for _ in range(160):
            body.write(b"x" * 65536)
        body.finish()
        return
    if req.get_path() == "/body":
        Response.from_body(b"x" * (8 << 20)).send_to_client()
        return
    Response.from_body("fast").send_to_client()
"""
FAST_LIMIT = 5.0


def threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


class Attack:
    """The drippers, and what they were answered."""

    def __init__(self, port: int, clients: int, length: int, kind: str) -> None:
        self.port, self.clients, self.length, self.kind = port, clients, length, kind
        self.answers: collections.Counter[str] = collections.Counter()
        self.open = 0

    async def run(self) -> None:
        attacker = self._dripper if self.kind == "upload" else self._non_reader
        await asyncio.gather(*(attacker() for _ in range(self.clients)))

    async def _non_reader(self) -> None:
        """Ask for a large answer and read none of it, until the server closes the connection
        or 60 s pass."""
        loop = asyncio.get_running_loop()
        while True:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, ("127.0.0.1", self.port))
                await loop.sock_sendall(
                    sock, f"GET /{self.kind} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
                )
            except OSError:
                self.answers["connect failed"] += 1
                sock.close()
                await asyncio.sleep(1)
                continue
            self.open += 1
            started = time.monotonic()
            while time.monotonic() - started < 60:
                await asyncio.sleep(0.5)
                # tcpi_state, the first byte of TCP_INFO: anything but ESTABLISHED (1) means
                # the server closed or reset it (its data still unread here)
                if sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] != 1:
                    break
            self.answers["closed" if time.monotonic() - started < 60 else "held 60 s"] += 1
            self.open -= 1
            sock.close()

    async def _dripper(self) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                self.answers["connect failed"] += 1
                await asyncio.sleep(1)
                continue
            self.open += 1
            try:
                head = (
                    f"POST /upload HTTP/1.1\r\nHost: localhost\r\n"
                    f"Content-Length: {self.length}\r\n\r\n"
                )
                writer.write(head.encode())
                answer = asyncio.ensure_future(reader.read(64))
                for _ in range(self.length):
                    writer.write(b"x")
                    done, _ = await asyncio.wait([answer], timeout=1.0)
                    if done:
                        break
                data = await answer
                status = data[9:12].decode(errors="replace") if data else "closed"
                self.answers[status] += 1
            except OSError:
                self.answers["reset"] += 1
            finally:
                self.open -= 1
                writer.close()


async def fast(port: int) -> float | None:
    """Seconds a GET /fast took, None past the limit (or failed)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(FAST_LIMIT):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /fast HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = await reader.read()
            writer.close()
    except (TimeoutError, OSError):
        return None
    return time.perf_counter() - started if data.endswith(b"fast") else None


async def measure(pid: int, port: int, args: argparse.Namespace) -> dict[str, object]:
    attack = Attack(port, args.clients, args.length, args.attack)
    before = {"threads": threads(pid), "fds": fd_count(pid), "rss_mib": status_kib(pid) >> 10}
    task = asyncio.ensure_future(attack.run())
    samples = []
    probes: list[asyncio.Task[float | None]] = []
    for second in range(args.seconds):
        probes.append(asyncio.ensure_future(fast(port)))
        await asyncio.sleep(1)
        sample = {
            "t": second + 1,
            "threads": threads(pid),
            "fds": fd_count(pid),
            "rss_mib": status_kib(pid) >> 10,
        }
        if os.environ.get("DRIP_NAMES"):
            names = collections.Counter(
                Path(f"/proc/{pid}/task/{t}/comm").read_text().strip()
                for t in os.listdir(f"/proc/{pid}/task")
            )
            print("   ", dict(names))
        samples.append(sample)
        answered = dict(attack.answers)
        print(
            f"  {sample['t']:3d}s threads {sample['threads']:4d}  fds {sample['fds']:5d}  "
            f"RSS {sample['rss_mib']:5d} MiB  attackers open {attack.open:4d}  "
            f"answered {answered}",
            flush=True,
        )
    times = await asyncio.gather(*probes)
    task.cancel()
    served = [t for t in times if t is not None]
    return {
        "attack": args.attack,
        "clients": args.clients,
        "length": args.length,
        "serve_flags": args.serve_flags,
        "before": before,
        "max_threads": max(s["threads"] for s in samples),
        "max_fds": max(s["fds"] for s in samples),
        "max_rss_mib": max(s["rss_mib"] for s in samples),
        "last": samples[-1],
        "fast_served": len(served),
        "fast_asked": len(times),
        "fast_p50_s": statistics.median(served) if served else None,
        "fast_max_s": max(served) if served else None,
        "attacker_answers": dict(attack.answers),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attack", choices=["upload", "stream", "body"], default="upload")
    parser.add_argument("--clients", type=int, default=270)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("serve_flags", nargs="*", default=["--body-timeout", "3"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = project(Path(tmp), "drip", APP, None, pushpin=False)
        argv = [sys.executable, "-m", "compute_emu", "serve", "-C", str(path)]
        proc = Proc([*argv, "--addr", "127.0.0.1:0", "-q", *args.serve_flags], cpu=None)
        try:
            url = proc.wait_for(r"Listening on (http://\S+)", timeout=60).group(1)
            port = int(url.rsplit(":", 1)[1])
            flags = " ".join(args.serve_flags)
            print(f"compute-emu serve {flags}: {args.clients} attackers ({args.attack})")
            result = asyncio.run(measure(proc.pid, port, args))
        finally:
            stop_all()
    before, last = result["before"], result["last"]
    print(
        f"threads {before['threads']} -> max {result['max_threads']} (last {last['threads']}), "  # type: ignore[index]
        f"fds {before['fds']} -> max {result['max_fds']} (last {last['fds']}), "  # type: ignore[index]
        f"RSS {before['rss_mib']} -> max {result['max_rss_mib']} MiB (last {last['rss_mib']}); "  # type: ignore[index]
        f"GET /fast served {result['fast_served']}/{result['fast_asked']} within {FAST_LIMIT:g} s "
        f"(p50 {result['fast_p50_s']}, max {result['fast_max_s']}); "
        f"attackers answered {result['attacker_answers']}"
    )
    out = ROOT / "bench" / "results" / f"drip-{args.attack}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
