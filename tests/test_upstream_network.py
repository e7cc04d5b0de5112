"""The upstream client's network: every connection is compute-emu's own stream, TLS included."""

from __future__ import annotations

import ssl

import anyio
import pytest
from anyio.streams.tls import TLSStream

from compute_emu.aio.listener import Listener
from compute_emu.aio.transport import ProtocolStream
from compute_emu.upstream.models import Origin
from compute_emu.upstream.network import SocketNetwork, TLSConnection
from tests.support.tls import localhost_contexts


@pytest.fixture(scope="module")
def tls_contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    return localhost_contexts(tmp_path_factory.mktemp("tls"))


@pytest.mark.anyio
async def test_plain_and_tls_connections_show_an_idle_close_without_a_read(
    tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    """What the pool asks of an idle connection (is_readable): a plain one is compute-emu's
    ProtocolStream; a TLS one is anyio's TLSStream over one, and sees the origin close too."""
    server_context, client_context = tls_contexts
    listener = await Listener.open("127.0.0.1", 0)
    port = listener.address[1]
    hang_up = anyio.Event()

    async def handle(stream: ProtocolStream) -> None:
        await hang_up.wait()
        await stream.aclose()

    async def handle_tls(stream: ProtocolStream) -> None:
        tls = await TLSStream.wrap(
            stream, server_side=True, ssl_context=server_context, standard_compatible=False
        )
        assert await tls.receive() == b"ping"
        await tls.send(b"pong")
        await hang_up.wait()
        await tls.aclose()

    tls_listener = await Listener.open("127.0.0.1", 0)
    network = SocketNetwork()
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        tg.start_soon(tls_listener.serve, handle_tls)
        plain = await network.connect(Origin("127.0.0.1", port))
        assert isinstance(plain, ProtocolStream)
        origin = Origin("127.0.0.1", tls_listener.address[1], True, "localhost", client_context)
        tls = await network.connect(origin)
        assert isinstance(tls, TLSConnection)
        await tls.send(b"ping")
        assert await tls.receive(timeout=5) == b"pong"
        with pytest.raises(TimeoutError):
            await tls.receive(timeout=0.05)  # nothing more comes
        for stream in (plain, tls):
            assert not stream.is_readable() and not stream.at_eof
        hang_up.set()
        with anyio.fail_after(5):
            for stream in (plain, tls):
                while not stream.is_readable():
                    await anyio.sleep(0.001)
                assert stream.at_eof
        for stream in (plain, tls):
            await stream.aclose()
        tg.cancel_scope.cancel()
