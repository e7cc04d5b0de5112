"""Micro-benchmark of the relay alone: held HTTP streams and spliced WebSockets, old vs new.

Two processes, pinned to a CPU each (when there are two): a *relay* process (a minimal
server on anyio + h11 that accepts a "browser", connects to a "Pushpin" and relays between
them with one of the variants below) and this *peer* process, which plays every browser and
every Pushpin with plain non-blocking sockets and an epoll loop, so its own cost is the same
for every variant. Per variant it measures:

- RSS of the relay process per held connection (after all are established and one message
  went through each), and the same for a ``hold-*`` variant that parses the heads and holds
  both sockets without relaying: the difference is what the relay itself costs;
- publish-to-delivery: one 100-byte message written to every Pushpin end at once, the time
  until each browser end has it (p50 over subscribers and rounds) and until all have it;
- the relay process's CPU time per delivered message (robust on a shared machine).

Variants: ``direct`` (browser connected to Pushpin, no relay: the floor), ``hold-http``,
``old-h11`` (the relay before compute_emu.upstream.relay: Pushpin's chunked body parsed
with h11 and every chunk re-serialised with the client's h11, a watcher task in a task
group), ``new-chunked`` (``relay_chunked``), ``hold-ws``, ``old-splice``
(bench/old_splice.py, the splice before the relay), ``new-splice`` (``relay.splice``) and
``new-splice+count`` (``relay.splice`` with the WebSocket frame counters the handoff feeds
for its close line). A spliced message is one unmasked WebSocket text frame.
``old-h11+64k`` and
``old-splice+64k`` are the old relays with the transports' read size cut to 64 KiB (the new
relay does that; asyncio's 256 KiB reads cost an mmap/mremap/munmap each), to tell that
gain apart from the rest. The ``old-*`` variants run on anyio's socket streams, as they did;
the others on compute-emu's own (``compute_emu.aio``), as its server and upstream client do.

    .venv/bin/python bench/relay_micro.py [--streams 2000] [--publish-to 1000] [--json out]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HTTP_VARIANTS = ("hold-http", "old-h11", "new-chunked")
WS_VARIANTS = ("hold-ws", "old-splice", "new-splice")
VARIANTS = (
    "direct",
    "hold-http",
    "old-h11",
    "old-h11+64k",
    "new-chunked",
    "hold-ws",
    "old-splice",
    "old-splice+64k",
    "new-splice",
    "new-splice+count",
)
REQUEST = b"GET /stream HTTP/1.1\r\nHost: relay\r\n\r\n"
PUSHPIN_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
MESSAGE = b"m" * 100
FRAME = b"%x\r\n%s\r\n" % (len(MESSAGE), MESSAGE)  # what a held stream carries per message
WS_FRAME = bytes([0x81, len(MESSAGE)]) + MESSAGE  # what a WebSocket carries per message


# -- the relay process ------------------------------------------------------------------------
def serve(variant: str, pushpin_port: int) -> None:
    """Run the relay process (``relay_micro.py serve VARIANT PORT``); prints its port."""
    import anyio
    import anyio.abc
    import h11

    from bench import old_splice as old_splice_module
    from compute_emu.aio.connect import connect
    from compute_emu.aio.listener import Listener
    from compute_emu.rules.ws_frames import FrameCounter
    from compute_emu.upstream.relay import relay_chunked, splice

    read_size = 64 * 1024

    async def next_event(conn: h11.Connection, stream: anyio.abc.ByteStream) -> object:
        while (event := conn.next_event()) is h11.NEED_DATA:
            conn.receive_data(await stream.receive(read_size))
        return event

    async def old_h11_relay(
        upstream: anyio.abc.ByteStream,
        up: h11.Connection,
        client: anyio.abc.ByteStream,
        down: h11.Connection,
    ) -> None:
        """The relay of runtime/handoff.py at 7b1aeee (``_relay_response`` with
        ``_unless_client_leaves``, ``receive_chunk``, ``send_response``, ``wait_closed``)."""
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                with contextlib.suppress(Exception):
                    down.receive_data(await client.receive(read_size))
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            with contextlib.suppress(Exception):
                while True:
                    event = await next_event(up, upstream)
                    if isinstance(event, h11.Data):
                        await client.send(down.send(h11.Data(data=bytes(event.data))) or b"")
                    else:
                        await client.send(down.send(h11.EndOfMessage()) or b"")
                        break
            tg.cancel_scope.cancel()

    base_variant, _, option = variant.partition("+")
    old = base_variant.startswith("old")  # on anyio's socket streams, as it was

    def pause_reading(stream: anyio.abc.ByteStream) -> None:
        """Read only inside receive() (anyio's asyncio stream starts out reading)."""
        transport = stream._transport  # type: ignore[attr-defined]
        if transport.is_reading():
            transport.pause_reading()

    async def handle(client: anyio.abc.ByteStream) -> None:
        upstream: anyio.abc.ByteStream
        if old:
            pause_reading(client)
            upstream = await anyio.connect_tcp("127.0.0.1", pushpin_port)
            pause_reading(upstream)
        else:  # compute-emu's own streams, as its server and upstream client use them
            upstream = await connect("127.0.0.1", pushpin_port)
        if option == "64k":  # the old relays with 64 KiB reads, as the new ones do
            for stream in (client, upstream):
                stream._transport.max_size = 64 * 1024  # type: ignore[attr-defined]
        try:
            if base_variant in WS_VARIANTS:
                if base_variant == "hold-ws":
                    await anyio.sleep_forever()
                elif base_variant == "old-splice":
                    await old_splice_module.splice(client, upstream)
                elif option == "count":
                    await splice(client, upstream, counters=(FrameCounter(), FrameCounter()))
                else:
                    await splice(client, upstream)
                return
            down = h11.Connection(h11.SERVER)
            while not isinstance(await next_event(down, client), h11.EndOfMessage):
                pass
            up = h11.Connection(h11.CLIENT)
            request = h11.Request(method="GET", target="/stream", headers=[("Host", "pushpin")])
            await upstream.send((up.send(request) or b"") + (up.send(h11.EndOfMessage()) or b""))
            head = await next_event(up, upstream)
            assert isinstance(head, h11.Response)
            out = h11.Response(status_code=200, headers=[("Content-Type", "text/plain")])
            await client.send(down.send(out) or b"")
            if base_variant == "hold-http":
                await anyio.sleep_forever()
            elif base_variant == "old-h11":
                await old_h11_relay(upstream, up, client, down)
            else:
                await relay_chunked(upstream, client, bytes(up.trailing_data[0]))
        finally:
            with anyio.CancelScope(shield=True):
                await upstream.aclose()
                await client.aclose()

    async def main() -> None:
        if old:
            listener = await anyio.create_tcp_listener(local_host="127.0.0.1", backlog=4096)
            print(listener.extra(anyio.abc.SocketAttribute.local_port), flush=True)
            await listener.serve(handle)
        else:
            ours = await Listener.open("127.0.0.1", 0)
            print(ours.address[1], flush=True)
            await ours.serve(handle)

    anyio.run(main, backend="asyncio")


# -- the peer process ---------------------------------------------------------------------------
def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        piece = sock.recv(65536)
        if not piece:
            raise RuntimeError(f"closed while waiting for {marker!r}: {data!r}")
        data += piece
    return data


def pin(cpu: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        if len(os.sched_getaffinity(0)) > 1:
            os.sched_setaffinity(0, {cpu})


def session(
    variant: str, streams: int, publish_to: int, rounds: int, wrap: list[str]
) -> dict[str, object]:
    """Establish ``streams`` connections through ``variant``, measure, tear down."""
    pushpin_listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
    pushpin_port = pushpin_listener.getsockname()[1]
    proc: subprocess.Popen[bytes] | None = None
    browsers: list[socket.socket] = []
    pushpins: list[socket.socket] = []
    try:
        if variant == "direct":
            port, pid = pushpin_port, None
        else:
            argv = [sys.executable, str(Path(__file__).resolve()), "serve", variant]
            proc = subprocess.Popen(
                [*wrap, *argv, str(pushpin_port)],
                stdout=subprocess.PIPE,
                cwd=ROOT,
                env=_env(),
                start_new_session=True,  # its own group: a --wrap command and its child
            )
            assert proc.stdout is not None
            port, pid = int(proc.stdout.readline()), proc.pid
            time.sleep(0.3)
        base = rss_kib(pid) if pid else 0
        http = variant.partition("+")[0] in (*HTTP_VARIANTS, "direct")
        for _ in range(streams):
            browser = socket.create_connection(("127.0.0.1", port))
            if http:
                browser.sendall(REQUEST)
            pushpin, _ = pushpin_listener.accept()
            if http:
                read_until(pushpin, b"\r\n\r\n")
                pushpin.sendall(PUSHPIN_HEAD)
                read_until(browser, b"\r\n\r\n")
            browsers.append(browser)
            pushpins.append(pushpin)
        message = FRAME if http else WS_FRAME
        holding = variant.startswith("hold")
        if not holding:
            publish(pushpins, browsers, message)  # one message through every connection
        time.sleep(0.5)
        held = rss_kib(pid) if pid else 0
        if holding:
            rss = round((held - base) / streams, 2)
            return {"variant": variant, "streams": streams, "rss_kib_per_stream": rss}
        cpu_before = cpu_seconds(pid) if pid else (0.0, 0.0)
        each: list[float] = []
        everyone: list[float] = []
        for _ in range(rounds):
            times = publish(pushpins[:publish_to], browsers[:publish_to], message)
            each.extend(times)
            everyone.append(max(times))
            time.sleep(0.05)
        cpu_after = cpu_seconds(pid) if pid else (0.0, 0.0)
        user, system = (after - before for after, before in zip(cpu_after, cpu_before, strict=True))
        messages = rounds * publish_to
        return {
            "variant": variant,
            "streams": streams,
            "publish_to": publish_to,
            "rss_kib_per_stream": round((held - base) / streams, 2) if pid else None,
            "delivery_p50_ms": round(statistics.median(each) * 1000, 3),
            "all_delivered_p50_ms": round(statistics.median(everyone) * 1000, 3),
            "relay_cpu_us_per_message": round((user + system) / messages * 1e6, 2) if pid else None,
            "relay_user_us_per_message": round(user / messages * 1e6, 2) if pid else None,
        }
    finally:
        for sock in (*browsers, *pushpins):
            sock.close()
        pushpin_listener.close()
        if proc is not None:
            stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the relay process we started (and, with --wrap, the wrapped one: its group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(10)
            time.sleep(0.2)  # a wrapper may exit before the process it wraps
            os.killpg(proc.pid, 0)  # anyone left in the group?
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def publish(
    pushpins: list[socket.socket], browsers: list[socket.socket], message: bytes
) -> list[float]:
    """Write ``message`` to every Pushpin end; seconds until each browser end had all of it."""
    selector = selectors.DefaultSelector()
    missing: dict[int, int] = {}
    for index, browser in enumerate(browsers):
        browser.setblocking(False)
        selector.register(browser, selectors.EVENT_READ, index)
        missing[index] = len(message)
    times = [0.0] * len(browsers)
    start = time.perf_counter()
    for pushpin in pushpins:
        pushpin.send(message)
    while missing:
        for key, _ in selector.select(10):
            index = key.data
            got = len(browsers[index].recv(65536))
            if not got:
                raise RuntimeError(f"browser {index} closed")
            missing[index] -= got
            if missing[index] <= 0:
                times[index] = time.perf_counter() - start
                del missing[index]
                selector.unregister(browsers[index])
    selector.close()
    for browser in browsers:
        browser.setblocking(True)
    return times


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def table(results: list[dict[str, object]]) -> str:
    """The results as a Markdown table."""
    hold = {r["variant"]: r["rss_kib_per_stream"] for r in results if "hold" in str(r["variant"])}
    columns = [
        ("RSS KiB / held conn", "rss_kib_per_stream"),
        ("relay's own KiB", "own"),
        ("delivery p50 ms", "delivery_p50_ms"),
        ("all delivered p50 ms", "all_delivered_p50_ms"),
        ("relay CPU µs / msg", "relay_cpu_us_per_message"),
        ("of it user µs", "relay_user_us_per_message"),
    ]
    lines = [
        "| variant | " + " | ".join(title for title, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for r in results:
        row = dict(r)
        variant = str(r["variant"])
        floor = hold.get("hold-ws" if variant.partition("+")[0] in WS_VARIANTS else "hold-http")
        rss = r.get("rss_kib_per_stream")
        relaying = not variant.startswith("hold")
        if isinstance(rss, float | int) and isinstance(floor, float | int) and relaying:
            row["own"] = round(rss - floor, 1)
        cells = ["" if row.get(key) is None else str(row[key]) for _, key in columns]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        pin(0)
        serve(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=2000, help="held connections")
    parser.add_argument("--publish-to", type=int, default=1000, help="subscribers per message")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument(
        "--wrap", default="", help="command prefix for the relay process (py-spy, strace -c)"
    )
    args = parser.parse_args()
    pin(1)
    results = []
    for variant in args.variants.split(","):
        publish_to = min(args.publish_to, args.streams)
        result = session(variant, args.streams, publish_to, args.rounds, args.wrap.split())
        print(json.dumps(result), file=sys.stderr, flush=True)
        results.append(result)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
