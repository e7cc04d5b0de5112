"""The upstream client's pool and its stale-connection retry, over a scripted network."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest

from compute_emu.upstream.client import (
    FailureKind,
    Origin,
    UpstreamClient,
    UpstreamError,
    UpstreamRequest,
)
from tests.support.scripted_network import (
    OK,
    ORIGIN,
    WAIT,
    ScriptedNetwork,
    ScriptedStream,
    get,
    pooled,
    read_all,
)


# -- the stale-connection retry --------------------------------------------------------------
@pytest.mark.anyio
@pytest.mark.parametrize("failure", [(), (OSError("reset"),)])
async def test_a_reused_connection_that_died_is_retried_once_on_a_new_one(failure):
    stale = ScriptedStream(OK, *failure)
    fresh = ScriptedStream(OK)
    network = ScriptedNetwork(stale, fresh)
    client = UpstreamClient(network)
    await pooled(client, stale)
    response = await client.request(ORIGIN, get("/again"))
    assert response.status == 200 and not response.reused
    assert stale.closed and len(network.origins) == 2
    assert fresh.sent.startswith(b"GET /again ")


@pytest.mark.anyio
async def test_a_failed_write_on_a_reused_connection_is_retried():
    stale = ScriptedStream(OK, fail_send_after=1)
    fresh = ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(stale, fresh))
    await pooled(client, stale)
    assert await read_all(client, get()) == (200, b"ok")
    assert stale.closed


@pytest.mark.anyio
async def test_no_retry_once_response_bytes_arrived():
    stale = ScriptedStream(OK, b"HTTP/1.1 200")
    client = UpstreamClient(ScriptedNetwork(stale, ScriptedStream(OK)))
    await pooled(client, stale)
    with pytest.raises(UpstreamError) as failed:
        await client.request(ORIGIN, get())
    assert failed.value.kind is FailureKind.INCOMPLETE


@pytest.mark.anyio
async def test_no_retry_for_a_streamed_body():
    async def body() -> AsyncIterator[bytes]:
        yield b"x"

    stale = ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(stale, ScriptedStream(OK)))
    await pooled(client, stale)
    request = UpstreamRequest("POST", "/", [("Host", b"h"), ("Content-Length", b"1")], body())
    with pytest.raises(UpstreamError) as failed:
        await client.request(ORIGIN, request)
    assert failed.value.kind is FailureKind.INCOMPLETE and stale.closed


@pytest.mark.anyio
async def test_no_retry_on_a_new_connection_and_only_one_retry():
    client = UpstreamClient(ScriptedNetwork(ScriptedStream()))
    with pytest.raises(UpstreamError):
        await client.request(ORIGIN, get())  # a new connection that fails: not retried
    stale = ScriptedStream(OK)
    network = ScriptedNetwork(stale, ScriptedStream(), ScriptedStream(OK))
    client = UpstreamClient(network)
    await pooled(client, stale)
    with pytest.raises(UpstreamError):
        await client.request(ORIGIN, get())  # reused, then new: both fail, no third try
    assert len(network.origins) == 2


@pytest.mark.anyio
async def test_no_retry_on_a_timeout():
    stale = ScriptedStream(OK, WAIT)
    client = UpstreamClient(ScriptedNetwork(stale, ScriptedStream(OK)))
    await pooled(client, stale)
    with pytest.raises(UpstreamError) as failed:
        await client.request(ORIGIN, get(head_timeout=0.05))
    assert failed.value.kind is FailureKind.RESPONSE_TIMEOUT


@pytest.mark.anyio
async def test_an_early_answer_to_a_failed_upload_is_returned():
    async def body() -> AsyncIterator[bytes]:
        yield b"x" * 10
        yield b"y" * 10

    stream = ScriptedStream(
        b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        fail_send_after=2,
    )
    client = UpstreamClient(ScriptedNetwork(stream))
    request = UpstreamRequest("PUT", "/", [("Host", b"h"), ("Content-Length", b"20")], body())
    response = await client.request(ORIGIN, request)
    assert response.status == 413
    assert await response.receive() == b""
    assert stream.closed and client.pool.idle_count() == 0


# -- the pool --------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_connections_are_reused_most_recent_first_and_per_origin():
    a, b, c = ScriptedStream(OK, OK), ScriptedStream(OK), ScriptedStream(OK)
    network = ScriptedNetwork(a, b, c)
    client = UpstreamClient(network)
    await pooled(client, a)
    response = await client.request(ORIGIN, get())
    assert response.reused
    assert await response.receive() == b"ok" and await response.receive() == b""
    context = ssl.create_default_context()
    other = Origin("127.0.0.1", 8080, tls=True, ssl_context=context)
    assert (await client.request(other, get())).status == 200  # its own connection
    assert network.origins[-1] == other
    assert Origin("h", 1, connect_timeout=1) == Origin("h", 1, connect_timeout=2)


@pytest.mark.anyio
async def test_a_stale_idle_connection_is_closed_not_used():
    stale, fresh = ScriptedStream(OK), ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(stale, fresh))
    await pooled(client, stale)
    stale.readable = True  # the origin closed it meanwhile
    response = await client.request(ORIGIN, get())
    assert not response.reused and stale.closed


@pytest.mark.anyio
async def test_connection_close_and_unread_bodies_are_not_pooled():
    closing = ScriptedStream(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    unread = ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(closing, unread))
    assert await read_all(client, get()) == (200, b"ok")
    assert closing.closed
    response = await client.request(ORIGIN, get())
    await response.aclose()
    assert unread.closed and client.pool.idle_count() == 0


@pytest.mark.anyio
async def test_the_pool_keeps_at_most_its_limit_and_closes_on_aclose():
    streams = [ScriptedStream(OK) for _ in range(3)]
    client = UpstreamClient(ScriptedNetwork(*streams), max_idle_per_origin=2)
    responses = [await client.request(ORIGIN, get()) for _ in range(3)]
    for response in responses:
        while await response.receive():
            pass
    assert client.pool.idle_count(ORIGIN) == 2 and streams[2].closed
    await client.aclose()
    assert all(s.closed for s in streams) and client.pool.idle_count() == 0


@pytest.mark.anyio
async def test_expired_idle_connections_are_not_reused():
    old, fresh = ScriptedStream(OK), ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(old, fresh))
    client.pool.idle_expiry = 0.0
    await pooled(client, old)
    response = await client.request(ORIGIN, get())
    assert not response.reused and old.closed


@pytest.mark.anyio
async def test_past_the_total_limit_the_oldest_idle_connection_goes():
    a, b, c = (ScriptedStream(OK) for _ in range(3))
    client = UpstreamClient(ScriptedNetwork(a, b, c), max_idle=2)
    for port in (1, 2, 3):
        response = await client.request(Origin("127.0.0.1", port), get())
        while await response.receive():
            pass
    assert a.closed and not b.closed and not c.closed
    assert client.pool.idle_count() == 2
    assert client.pool.idle_count(Origin("127.0.0.1", 1)) == 0


@pytest.mark.anyio
async def test_expired_idle_connections_are_swept():
    import compute_emu.upstream.pool as pool_module

    a, b = ScriptedStream(OK), ScriptedStream(OK)
    client = UpstreamClient(ScriptedNetwork(a, b))
    response = await client.request(Origin("127.0.0.1", 1), get())
    while await response.receive():
        pass
    client.pool.idle_expiry = 0.0
    client.pool._swept -= pool_module.SWEEP_EVERY + 1
    response = await client.request(Origin("127.0.0.1", 2), get())
    while await response.receive():
        pass
    assert a.closed and client.pool.idle_count() == 1
