"""The splice compute-emu had before compute_emu.upstream.relay (bench/relay_micro.py's
baseline).

Join two byte streams both ways after a ``101 Switching Protocols``.

Bytes either side sent past the 101 head (already read into an HTTP parser) are delivered
first. When one side finishes sending, the other is half-closed where the stream allows it;
when one side fails, both are closed. Nothing is buffered beyond one read.
"""

from __future__ import annotations

import contextlib

import anyio
import anyio.abc

READ_SIZE = 64 * 1024
_GONE = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


async def _pump(
    source: anyio.abc.ByteStream,
    sink: anyio.abc.ByteStream,
    pending: bytes,
    counter: list[int],
) -> bool:
    """Copy source to sink until source ends. True if it ended cleanly (EOF)."""
    try:
        if pending:
            await sink.send(pending)
            counter[0] += len(pending)
        while True:
            data = await source.receive(READ_SIZE)
            await sink.send(data)
            counter[0] += len(data)
    except anyio.EndOfStream:
        pass
    except _GONE:
        return False
    try:
        await sink.send_eof()
    except (NotImplementedError, *_GONE):
        return False  # the sink cannot be half-closed (TLS): end both directions
    return True


async def splice(
    client: anyio.abc.ByteStream,
    upstream: anyio.abc.ByteStream,
    client_pending: bytes = b"",
    upstream_pending: bytes = b"",
) -> tuple[int, int]:
    """Relay both ways until both directions end. Returns (bytes to upstream, to client)."""
    to_upstream, to_client = [0], [0]
    async with anyio.create_task_group() as tg:

        async def direction(
            source: anyio.abc.ByteStream,
            sink: anyio.abc.ByteStream,
            pending: bytes,
            counter: list[int],
        ) -> None:
            if not await _pump(source, sink, pending, counter):
                tg.cancel_scope.cancel()

        tg.start_soon(direction, client, upstream, client_pending, to_upstream)
        tg.start_soon(direction, upstream, client, upstream_pending, to_client)
    with anyio.CancelScope(shield=True):
        for stream in (client, upstream):
            with contextlib.suppress(Exception):
                await stream.aclose()
    return to_upstream[0], to_client[0]
