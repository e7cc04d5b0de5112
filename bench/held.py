"""Held subscribers (HTTP streams and WebSockets) and a publisher, for the publish rows.

Every published message carries its id and its send time (``bench <id> <ns>;``, from
CLOCK_MONOTONIC); each subscriber stamps its arrival as its bytes come in, so one publish
gives one latency per subscriber. Subscribers are plain asyncio protocols (no task each).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MESSAGE = re.compile(rb"bench (\d+) (\d+);")
KEEP = 64  # bytes of an unmatched tail kept for a message split across reads


@dataclass
class Track:
    """Arrivals of one message: latencies in ms, done when ``expected`` have arrived."""

    expected: int
    latencies: list[float] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Tracker:
    """The messages in flight, by id."""

    def __init__(self) -> None:
        self.tracks: dict[int, Track] = {}
        self.next_id = 1

    def new(self, expected: int) -> tuple[int, Track]:
        message_id, self.next_id = self.next_id, self.next_id + 1
        track = self.tracks[message_id] = Track(expected)
        return message_id, track

    def arrived(self, message_id: int, sent_ns: int, now_ns: int) -> None:
        track = self.tracks.get(message_id)
        if track is not None:
            track.latencies.append((now_ns - sent_ns) / 1e6)
            if len(track.latencies) >= track.expected:
                track.done.set()


class Subscriber(asyncio.Protocol):
    """One held HTTP stream or WebSocket; ``opened`` resolves True once it is held."""

    def __init__(self, request: bytes, websocket: bool, tracker: Tracker) -> None:
        self.request = request
        self.websocket = websocket
        self.tracker = tracker
        self.buffer = b""
        self.held = False
        self.opened: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.why = ""  # why it was not held
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        buffer = self.buffer + data
        if not self.held:
            self.buffer = buffer
            self._check_open()
            return
        end = 0
        for match in MESSAGE.finditer(buffer):
            self.tracker.arrived(int(match.group(1)), int(match.group(2)), now)
            end = match.end()
        self.buffer = buffer[max(end, len(buffer) - KEEP) :]

    def _check_open(self) -> None:
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        status = self.buffer.split(b"\r\n", 1)[0]
        want = b" 101 " if self.websocket else b" 200 "
        if want not in status + b" ":
            self._fail(status.decode("latin-1")[:40])
            return
        if self.websocket or b"stream open\n" in self.buffer:
            self.held = True
            self.buffer = b""
            if not self.opened.done():
                self.opened.set_result(True)

    def _fail(self, why: str) -> None:
        self.why = self.why or why
        if not self.opened.done():
            self.opened.set_result(False)
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.held = False
        if not self.opened.done():
            self.why = self.why or "closed before held"
            self.opened.set_result(False)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def subscribe_request(websocket: bool, channel: str, port: int, route: str | None) -> bytes:
    """The request that opens one subscriber (``route``: a Pushpin-Route header, direct)."""
    lines = [
        f"GET /{'ws' if websocket else 'stream'}?ch={channel} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
    ]
    if websocket:
        key = base64.b64encode(os.urandom(16)).decode()
        lines += [
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
    if route:
        lines.append(f"Pushpin-Route: {route}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Group:
    """Subscribers of one channel, all through one path (compute-emu or Pushpin direct)."""

    name: str
    channel: str
    websocket: bool
    port: int
    route: str | None
    tracker: Tracker
    subscribers: list[Subscriber] = field(default_factory=list)
    open_seconds: float = 0.0
    failures: int = 0
    refusals: dict[str, int] = field(default_factory=dict)  # why, how many

    async def open(self, count: int, batch: int = 100, timeout: float = 240.0) -> None:
        """Open ``count`` subscribers in paced batches (Pushpin refuses bursts); bounded."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        deadline = time.monotonic() + timeout

        async def one() -> Subscriber | None:
            request = subscribe_request(self.websocket, self.channel, self.port, self.route)
            sub = Subscriber(request, self.websocket, self.tracker)
            try:
                await loop.create_connection(lambda: sub, "127.0.0.1", self.port)
                if await asyncio.wait_for(sub.opened, 20):
                    return sub
            except TimeoutError:
                sub.why = "no answer in 20 s"
            except OSError as exc:
                sub.why = f"connect: {exc.strerror or exc}"
            self.refusals[sub.why] = self.refusals.get(sub.why, 0) + 1
            sub.close()
            return None

        size, pause = batch, 0.2
        while len(self.subscribers) < count:
            if time.monotonic() > deadline or self.failures > max(count // 4, 20):
                raise RuntimeError(
                    f"{self.name}: only {len(self.subscribers)} of {count} subscribers opened "
                    f"in {time.perf_counter() - started:.0f} s; refused: {self.refusals}"
                )
            size = min(size, count - len(self.subscribers))
            results = await asyncio.gather(*(one() for _ in range(size)))
            opened = [sub for sub in results if sub is not None]
            self.failures += size - len(opened)
            self.subscribers += opened
            if len(opened) < size:  # refused: smaller batches, and a longer pause each time
                size, pause = max(10, size // 2), min(pause * 2, 5.0)
                await asyncio.sleep(pause)
            else:
                size, pause = min(batch, size * 2), 0.2
        self.open_seconds = time.perf_counter() - started
        if count >= 1000:
            kind = "WebSockets" if self.websocket else "streams"
            refused = f"; refused: {self.refusals}" if self.refusals else ""
            print(f"  {self.name}: {count:,} {kind} open in {self.open_seconds:.1f} s{refused}",
                  flush=True)  # fmt: skip

    def alive(self) -> int:
        """Subscribers still held (the others were closed by the server side)."""
        return sum(sub.held for sub in self.subscribers)

    def dropped(self) -> int:
        return len(self.subscribers) - self.alive()

    async def close(self) -> None:
        for sub in self.subscribers:
            sub.close()
        self.subscribers.clear()
        await asyncio.sleep(0)


class Publisher:
    """POSTs to Pushpin's publish API (which closes the connection after each answer).

    The connection is made before the send time is taken, so only the publish is timed.
    """

    def __init__(self, port: int) -> None:
        self.port = port

    async def publish(self, channel: str, websocket: bool, message_id: int) -> int:
        """Publish message ``message_id`` to ``channel``; returns its send time (ns)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            sent = time.monotonic_ns()
            text = f"bench {message_id} {sent};"
            fmt = {"ws-message": {"content": text}} if websocket else None
            fmt = fmt or {"http-stream": {"content": text + "\n"}}
            body = json.dumps({"items": [{"channel": channel, "formats": fmt}]}).encode()
            head = (
                f"POST /publish/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode() + body)
            status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = re.search(rb"(?im)^content-length:\s*(\d+)", status)
            answer = await reader.readexactly(int(length.group(1)) if length else 0)
        finally:
            writer.close()
        if b" 200 " not in status.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"publish refused: {status!r} {answer!r}")
        return sent

    async def close(self) -> None:
        """Nothing is kept open between publishes."""


async def deliver(
    group: Group, publisher: Publisher, timeout: float = 10.0
) -> tuple[list[float], int]:
    """Publish one message to ``group``; (latencies in ms, subscribers missed)."""
    expected = group.alive()  # a subscriber the server side closed gets nothing
    message_id, track = group.tracker.new(expected)
    await publisher.publish(group.channel, group.websocket, message_id)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(track.done.wait(), timeout)
    del group.tracker.tracks[message_id]
    return track.latencies, expected - len(track.latencies)


async def settle(group: Group, publisher: Publisher, limit: float = 60.0) -> None:
    """Publish until one message reaches every subscriber (subscriptions can lag the hold)."""
    deadline = time.monotonic() + limit
    wait = 2.0 + len(group.subscribers) / 1000  # a publish to 9,000 can take seconds
    missed = 0
    while time.monotonic() < deadline:
        _, missed = await deliver(group, publisher, timeout=wait)
        if not missed:
            return
    raise RuntimeError(
        f"{group.name}: no publish reached all {len(group.subscribers)} in {limit:g} s "
        f"(the last missed {missed}; {group.alive()} connections still open)"
    )


async def interleaved(
    groups: list[Group], publisher: Publisher, messages: int, gap: Callable[[float], float]
) -> dict[str, list[float]]:
    """``messages`` publishes per group, alternating groups, each waited for, then a gap."""
    out: dict[str, list[float]] = {group.name: [] for group in groups}
    for i in range(messages):
        order = groups if i % 2 == 0 else groups[::-1]
        for group in order:
            latencies, missed = await deliver(group, publisher)
            if missed:
                raise RuntimeError(f"{group.name}: message {i} missed {missed} subscribers")
            out[group.name] += latencies
            await asyncio.sleep(gap(max(latencies)))
    return out
