"""Readiness waits for Pushpin's condure -> handler link, and starts Pushpin again when it
does not come up (held streams then stall or get cancelled: "received message out of
sequence", seen in CI)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal

from compute_emu.errors import UserError
from compute_emu.log import RequestLog
from compute_emu.pushpin import probes
from compute_emu.pushpin.config import PushpinSettings
from compute_emu.pushpin.supervisor import Pushpin
from compute_emu.upstream.client import UpstreamClient
from tests.fanout_support import free_port, require_pushpin

CREDITS = 8192  # what a broken link lets through: the first credit window


class FakePushpin:
    """A proxy port whose /stream holds, and an API port whose publishes reach the held
    streams: whole, or only their first ``CREDITS`` bytes (a link that is down)."""

    def __init__(self, *, whole: bool) -> None:
        self.whole = whole
        self.held: list[asyncio.StreamWriter] = []

    async def proxy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"10\r\n[stream opened]\n\r\n")
        self.held.append(writer)
        await reader.read()  # until the probe hangs up
        writer.close()

    async def api(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        item = json.loads(await reader.readexactly(length))["items"][0]
        content = item["formats"]["http-stream"]["content"].encode()
        assert item["channel"] == probes.PROBE_CHANNEL
        for held in self.held:
            sent = content if self.whole else content[:CREDITS]
            held.write(b"%x\r\n%s\r\n" % (len(sent), sent))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nPublished\n")
        await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def serving(fake: FakePushpin) -> AsyncIterator[tuple[int, int]]:
    proxy = await asyncio.start_server(fake.proxy, "127.0.0.1", 0)
    api = await asyncio.start_server(fake.api, "127.0.0.1", 0)
    try:
        yield proxy.sockets[0].getsockname()[1], api.sockets[0].getsockname()[1]
    finally:
        for server in (proxy, api):
            server.close()
        for held in fake.held:
            held.close()


@pytest.mark.anyio
@pytest.mark.parametrize(("whole", "expected"), [(True, True), (False, False)])
async def test_delivers_only_when_a_message_bigger_than_the_credit_window_arrives_whole(
    whole: bool, expected: bool
) -> None:
    assert probes.DELIVERY_SIZE > CREDITS
    fake = FakePushpin(whole=whole)
    client = UpstreamClient()
    async with serving(fake) as (proxy_port, api_port):
        assert await probes.delivers(client, proxy_port, api_port) is expected
    await client.aclose()


@pytest.mark.anyio
async def test_delivers_is_false_when_nothing_listens() -> None:
    client = UpstreamClient()
    assert await probes.delivers(client, free_port(), free_port()) is False
    await client.aclose()


def run_pushpin(tmp_path: Path, err: io.StringIO) -> None:
    """Start Pushpin as serve does, then stop it; raises what its start raises."""
    settings = PushpinSettings(proxy_port=free_port(), publish_port=free_port())
    log = RequestLog(out=io.StringIO(), err=err)
    pushpin = Pushpin.prepare(None, settings, tmp_path, {}, log)
    with start_blocking_portal() as portal:
        try:
            future, _ = portal.start_task(pushpin.run)
            future.cancel()
        finally:
            portal.call(pushpin.stop)
    assert not pushpin.dir.exists()


def failing_first(times: int) -> Callable[..., object]:
    """Pushpin._links_up, answering "down" for the first ``times`` starts."""
    real = Pushpin._links_up
    calls = {"n": 0}

    async def links_up(self: Pushpin, process: object) -> bool:
        calls["n"] += 1
        if calls["n"] <= times:
            return False
        return await real(self, process)  # type: ignore[arg-type]

    return links_up


def test_pushpin_is_started_again_when_its_link_does_not_come_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_pushpin()
    monkeypatch.setattr(Pushpin, "_links_up", failing_first(2))
    err = io.StringIO()
    run_pushpin(tmp_path, err)
    assert err.getvalue().count("internal links did not come up") == 2
    assert err.getvalue().count("starting it again") == 2


def test_serve_stops_with_an_error_when_the_link_never_comes_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_pushpin()
    monkeypatch.setattr(Pushpin, "_links_up", failing_first(10_000))
    with pytest.raises(UserError, match=r"started 3 times; its internal links did not come up"):
        run_pushpin(tmp_path, io.StringIO())
