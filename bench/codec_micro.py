"""Micro-benchmark of the two HTTP/1.1 codecs alone, against h11 doing the same work.

One *cycle* is what a kept-alive connection does per request, with no I/O:

- ``server``: a browser-like GET head in (``receive_data``), its events out (head,
  end of message, paused), a small response framed (head, body, end) and the next cycle
  started: ``rules/http1_server.ServerProtocol``;
- ``client``: a request head framed for a backend, its response fed back (head with a
  Content-Length, body) and read to its end, and the next cycle started:
  ``rules/http1_client.ClientProtocol``;
- ``h11-server`` / ``h11-client``: h11 doing the same, for scale.

Each figure is the best of ``--repeat`` runs of ``--cycles`` cycles, in microseconds of this
thread's CPU time per cycle (CPU time, and the best run, so that other processes on a shared
machine disturb it least). ``--against DIR`` also measures the codecs of another checkout of
compute-emu (its ``compute_emu/rules``, loaded as a package of its own), the runs of both
taken in turn, so that a change is measured before and after under the same load.

    .venv/bin/python -m bench.codec_micro [--cycles 20000] [--repeat 7] [--against DIR] [--json out]

On a machine too busy for CPU time to tell a few per cent, count instructions instead (the
difference of two runs is the cost of ``N`` cycles, whatever else runs):

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python -m bench.codec_micro --only server --cycles N --repeat 1
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import h11

from compute_emu.rules import http1_client, http1_server

REQUEST = (
    b"GET /hello?name=world HTTP/1.1\r\nHost: 127.0.0.1:7676\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0\r\n"
    b"Accept: text/html,application/xhtml+xml\r\nAccept-Encoding: gzip, deflate, br\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\nConnection: keep-alive\r\n\r\n"
)
RESPONSE_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"13"),
    (b"date", b"Tue, 01 Dec 2026 16:00:00 GMT"),
]
BACKEND_REQUEST = [
    ("Host", b"origin.example"),
    ("User-Agent", b"Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"),
    ("Accept", b"text/html,application/xhtml+xml"),
    ("Accept-Encoding", b"gzip, deflate, br"),
    ("Fastly-FF", b"cache-emu"),
]
BACKEND_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n"
    b"Date: Tue, 01 Dec 2026 16:00:00 GMT\r\nCache-Control: max-age=60\r\n"
    b'ETag: "abc123"\r\nServer: origin\r\n\r\nHello, world!'
)


def server_cycles(server: ModuleType) -> Callable[[int], None]:
    def run(n: int) -> None:
        protocol = server.ServerProtocol()
        for _ in range(n):
            protocol.receive_data(REQUEST)
            protocol.next_event()  # the head
            protocol.next_event()  # END_OF_MESSAGE
            protocol.next_event()  # PAUSED
            protocol.send_response(200, RESPONSE_HEADERS, b"OK")
            protocol.send_data(b"Hello, world!")
            protocol.send_end()
            protocol.start_next_cycle()

    return run


def client_cycles(client: ModuleType) -> Callable[[int], None]:
    def run(n: int) -> None:
        protocol = client.ClientProtocol()
        end = client.END_OF_MESSAGE
        # a checkout from before the client had states starts its next cycle by itself
        next_cycle = getattr(protocol, "start_next_cycle", lambda: None)
        for _ in range(n):
            protocol.send_request("GET", "/hello?name=world", BACKEND_REQUEST)
            protocol.send_end()
            protocol.receive_data(BACKEND_RESPONSE)
            while protocol.next_event() is not end:
                pass
            assert protocol.reusable()
            next_cycle()

    return run


def h11_server_cycles(n: int) -> None:
    conn = h11.Connection(h11.SERVER)
    for _ in range(n):
        conn.receive_data(REQUEST)
        conn.next_event()  # Request
        conn.next_event()  # EndOfMessage
        conn.next_event()  # PAUSED
        conn.send(h11.Response(status_code=200, headers=RESPONSE_HEADERS, reason=b"OK"))
        conn.send(h11.Data(data=b"Hello, world!"))
        conn.send(h11.EndOfMessage())
        conn.start_next_cycle()


def h11_client_cycles(n: int) -> None:
    conn = h11.Connection(h11.CLIENT)
    for _ in range(n):
        conn.send(h11.Request(method="GET", target="/hello?name=world", headers=BACKEND_REQUEST))
        conn.send(h11.EndOfMessage())
        conn.receive_data(BACKEND_RESPONSE)
        while not isinstance(conn.next_event(), h11.EndOfMessage):
            pass
        conn.start_next_cycle()


def load_rules(checkout: Path) -> tuple[ModuleType, ModuleType]:
    """The codecs of another checkout, imported as a package of their own (``rules`` imports
    nothing from the rest of compute_emu)."""
    where = Path(tempfile.mkdtemp(prefix="codec-micro-"))
    shutil.copytree(checkout / "compute_emu" / "rules", where / "baseline_rules")
    sys.path.insert(0, str(where))
    server = importlib.import_module("baseline_rules.http1_server")
    client = importlib.import_module("baseline_rules.http1_client")
    return server, client


def measure(cases: dict[str, Callable[[int], None]], cycles: int, repeat: int) -> dict[str, float]:
    """Microseconds per cycle for each case, the best of ``repeat`` runs taken in turn."""
    best = dict.fromkeys(cases, float("inf"))
    for run in cases.values():
        run(min(cycles, 1000))  # warm up
    if cycles == 0:
        return dict.fromkeys(cases, 0.0)
    for _ in range(repeat):
        for name, run in cases.items():
            start = time.thread_time()
            run(cycles)
            best[name] = min(best[name], time.thread_time() - start)
    return {name: seconds / cycles * 1e6 for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cycles", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--against", type=Path, help="a checkout to measure in turn with this")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--only", help="run this case alone (for an instruction count)")
    args = parser.parse_args()
    cases: dict[str, Callable[[int], None]] = {
        "server": server_cycles(http1_server),
        "client": client_cycles(http1_client),
        "h11-server": h11_server_cycles,
        "h11-client": h11_client_cycles,
    }
    if args.against:
        server, client = load_rules(args.against)
        cases["server (against)"] = server_cycles(server)
        cases["client (against)"] = client_cycles(client)
    if args.only:
        cases = {args.only: cases[args.only]}
    results = measure(cases, args.cycles, args.repeat)
    for name, micros in results.items():
        print(f"{name:>16}: {micros:6.2f} µs a cycle")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
