"""relay.splice (both ways after a 101) on real loopback sockets, at the transport level and
through the stream-level fallback."""

from __future__ import annotations

import hashlib
import ssl

import anyio
import pytest
from anyio.streams.tls import TLSStream

from compute_emu.upstream import relay
from compute_emu.upstream.relay import splice
from tests.support.relay_rig import (
    BUFFER_BOUND,
    MODES,
    Loopback,
    blob,
    fd_count,
    make_rig,
    read_ahead,
    read_all,
    read_exactly,
    reset,
    taken_over,
)
from tests.support.tls import localhost_contexts


@MODES
@pytest.mark.anyio
async def test_splice_is_byte_exact_both_ways(net: Loopback, mode: str) -> None:
    rig = await make_rig(net, mode)
    up, down = blob(3_000_001, 1), blob(2_000_003, 2)
    got: dict[str, bytes] = {}
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                got["counts"] = await splice(rig.client, rig.upstream)  # type: ignore[assignment]

            async def browser() -> None:
                await rig.browser.send(up)
                await rig.browser.send_eof()
                got["browser"] = await read_all(rig.browser)

            async def pushpin() -> None:
                await rig.pushpin.send(down)
                await rig.pushpin.send_eof()
                got["pushpin"] = await read_all(rig.pushpin)

            tg.start_soon(run)
            tg.start_soon(browser)
            tg.start_soon(pushpin)
            if mode == "transport":
                await anyio.sleep(0.01)
                assert taken_over(rig.client) and taken_over(rig.upstream)
    assert got["pushpin"] == up
    assert got["browser"] == down
    assert got["counts"] == (len(up), len(down))  # type: ignore[comparison-overlap]
    await rig.aclose()


@MODES
@pytest.mark.anyio
async def test_splice_delivers_pending_bytes_first_and_in_order(net: Loopback, mode: str) -> None:
    rig = await make_rig(net, mode)
    await rig.browser.send(b"B2")  # arrived after the 101, not read by the HTTP parser yet
    await rig.pushpin.send(b"P2")
    await read_ahead(rig.client)  # ...read ahead by the streams already
    await read_ahead(rig.upstream)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(splice, rig.client, rig.upstream, b"B1", b"P1")
            assert await read_exactly(rig.pushpin, 4) == b"B1B2"
            assert await read_exactly(rig.browser, 4) == b"P1P2"
            await rig.browser.send(b"B3")
            await rig.pushpin.send(b"P3")
            assert await read_exactly(rig.pushpin, 2) == b"B3"
            assert await read_exactly(rig.browser, 2) == b"P3"
            await rig.browser.send_eof()
            await rig.pushpin.send_eof()
    await rig.aclose()


@MODES
@pytest.mark.anyio
async def test_splice_keeps_an_eof_that_came_before_it(net: Loopback, mode: str) -> None:
    """The browser's last bytes and EOF arrived right after the 101, before the splice."""
    rig = await make_rig(net, mode)
    await rig.browser.send(b"bye")
    await rig.browser.send_eof()
    await read_ahead(rig.client, eof=True)  # the stream saw the data and the EOF
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(splice, rig.client, rig.upstream)
            assert await read_all(rig.pushpin) == b"bye"  # data, then EOF
            await rig.pushpin.send(b"still here")  # the other direction goes on
            await rig.pushpin.send_eof()
            assert await read_all(rig.browser) == b"still here"
    await rig.aclose()


@MODES
@pytest.mark.parametrize("first", ["browser", "pushpin"])
@pytest.mark.anyio
async def test_splice_half_close_keeps_the_other_direction(
    net: Loopback, mode: str, first: str
) -> None:
    rig = await make_rig(net, mode)
    closer, other = (rig.browser, rig.pushpin) if first == "browser" else (rig.pushpin, rig.browser)
    result: list[tuple[int, int]] = []
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                result.append(await splice(rig.client, rig.upstream))

            tg.start_soon(run)
            await closer.send(b"last words")
            await closer.send_eof()
            assert await read_all(other) == b"last words"  # EOF reached the other side
            for i in range(3):  # ...which can still talk back
                await other.send(b"reply %d;" % i)
            assert await read_exactly(closer, 24) == b"reply 0;reply 1;reply 2;"
            assert not result  # still relaying one way
            await other.send_eof()
        assert await read_all(closer) == b""
    to_upstream, to_client = result[0]
    assert (to_upstream, to_client) == ((10, 24) if first == "browser" else (24, 10))
    await rig.aclose()


@MODES
@pytest.mark.parametrize("side", ["browser", "pushpin"])
@pytest.mark.anyio
async def test_splice_reset_closes_both(net: Loopback, mode: str, side: str) -> None:
    rig = await make_rig(net, mode)
    victim, other = (rig.browser, rig.pushpin) if side == "browser" else (rig.pushpin, rig.browser)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(splice, rig.client, rig.upstream)
            await victim.send(b"hi")
            assert await read_exactly(other, 2) == b"hi"
            await reset(victim)
            assert await read_all(other) == b""  # closed (EOF or reset), not left open
    await rig.aclose()


@pytest.mark.anyio
async def test_splice_slow_reader_pauses_the_writer_and_bounds_the_buffer(net: Loopback) -> None:
    rig = await make_rig(net, "transport")
    total, piece = 96 << 20, blob(64 * 1024, 3)
    written = [0]
    largest = [0]
    transport = rig.client.transport
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(splice, rig.client, rig.upstream)

            async def pushpin_writes() -> None:
                while written[0] < total:
                    await rig.pushpin.send(piece)
                    written[0] += len(piece)
                await rig.pushpin.send_eof()

            tg.start_soon(pushpin_writes)
            # the browser reads nothing for a while: the writer must stall, the relay's
            # buffer for the browser must stay bounded
            for _ in range(100):
                await anyio.sleep(0.01)
                largest[0] = max(largest[0], transport.get_write_buffer_size())
            stalled_at = written[0]
            await anyio.sleep(0.2)
            assert written[0] == stalled_at < total  # the writer is held back
            assert largest[0] <= BUFFER_BOUND
            received = 0
            digest = hashlib.sha256()
            while received < total:  # now read: everything arrives, in order
                data = await rig.browser.receive(1 << 20)
                largest[0] = max(largest[0], transport.get_write_buffer_size())
                digest.update(data)
                received += len(data)
            await rig.browser.send_eof()
    assert largest[0] <= BUFFER_BOUND
    expected = hashlib.sha256()
    for _ in range(total // len(piece)):
        expected.update(piece)
    assert digest.digest() == expected.digest()
    await rig.aclose()


@MODES
@pytest.mark.anyio
async def test_splice_cancelled_closes_both(net: Loopback, mode: str) -> None:
    rig = await make_rig(net, mode)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(splice, rig.client, rig.upstream)
            await rig.browser.send(b"x")
            assert await read_exactly(rig.pushpin, 1) == b"x"
            tg.cancel_scope.cancel()  # server shutdown
        assert await read_all(rig.browser) == b""
        assert await read_all(rig.pushpin) == b""
    await rig.aclose()


@MODES
@pytest.mark.anyio
async def test_splice_leaves_no_fds_after_1000_relays(net: Loopback, mode: str) -> None:
    async def one(i: int) -> None:
        rig = await make_rig(net, mode)
        async with anyio.create_task_group() as tg:
            tg.start_soon(splice, rig.client, rig.upstream, b"", b"")
            await rig.browser.send(b"ping %d" % i)
            await read_exactly(rig.pushpin, len(b"ping %d" % i))
            if i % 3 == 0:
                await reset(rig.browser)
            elif i % 3 == 1:
                await rig.pushpin.send_eof()
                await rig.browser.send_eof()
            else:
                tg.cancel_scope.cancel()
        await rig.browser.aclose()
        await rig.pushpin.aclose()

    before = fd_count()
    with anyio.fail_after(120):
        for batch in range(10):
            async with anyio.create_task_group() as tg:
                for i in range(100):
                    tg.start_soon(one, batch * 100 + i)
    await anyio.sleep(0.05)
    assert fd_count() == before


def test_public_api() -> None:
    assert set(relay.__all__) >= {"splice", "relay_chunked", "RelayResult", "BodyEnd"}


@pytest.fixture(scope="module")
def tls_contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, client) contexts for a throwaway self-signed localhost certificate."""
    return localhost_contexts(tmp_path_factory.mktemp("tls"))


@pytest.mark.anyio
async def test_splice_to_a_tls_upstream_uses_the_stream_pump(
    net: Loopback, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """A wss:// backend: TLS cannot be half-closed, so one side's EOF ends both."""
    rig = await make_rig(net, "transport")
    server_context, client_context = tls_contexts
    ends: dict[str, TLSStream] = {}
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:

            async def pushpin_side() -> None:
                ends["pushpin"] = await TLSStream.wrap(
                    rig.pushpin,
                    server_side=True,
                    ssl_context=server_context,
                    standard_compatible=False,
                )

            tg.start_soon(pushpin_side)
            ends["upstream"] = await TLSStream.wrap(  # as compute-emu connects to backends
                rig.upstream,
                hostname="localhost",
                ssl_context=client_context,
                standard_compatible=False,
            )
        pushpin = ends["pushpin"]
        result: list[tuple[int, int]] = []
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                result.append(await splice(rig.client, ends["upstream"], b"pending"))

            tg.start_soon(run)
            data = blob(300_000, 5)
            await rig.browser.send(data)
            assert await read_exactly(pushpin, 7 + len(data)) == b"pending" + data
            await pushpin.send(b"back")
            assert await read_exactly(rig.browser, 4) == b"back"
            await rig.browser.send_eof()
            assert await read_all(rig.browser) == b""  # both ended
        assert result == [(7 + len(data), 4)]
        await pushpin.aclose()
    await rig.aclose()
