"""The relay's stream-level pumps, for streams the transport-level relay cannot take over
(TLS, test doubles): the same behaviour as :mod:`compute_emu.aio.relay`, with a task per
direction."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import anyio
import anyio.abc

from ..aio.relay import BodyEnd, RelayResult
from ..rules.chunked import ChunkedError, ChunkedScanner

READ_SIZE = 64 * 1024
CLOSE_TIMEOUT = 5.0  # seconds for a TLS close_notify exchange before closing forcefully
_GONE = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


async def splice_streams(
    client: anyio.abc.ByteStream,
    upstream: anyio.abc.ByteStream,
    client_pending: bytes,
    upstream_pending: bytes,
    inspect: Callable[[int, bytes], None] | None = None,
) -> tuple[int, int]:
    """:func:`.relay.splice` on any byte streams: one task per direction."""
    sent = [0, 0]  # to upstream, to client

    async def direction(
        source: anyio.abc.ByteStream, sink: anyio.abc.ByteStream, pending: bytes, index: int
    ) -> None:
        try:
            if pending:
                await sink.send(pending)
                sent[index] += len(pending)
                if inspect is not None:
                    inspect(index, pending)
            while True:
                data = await source.receive(READ_SIZE)
                await sink.send(data)
                sent[index] += len(data)
                if inspect is not None:
                    inspect(index, data)
        except anyio.EndOfStream:
            pass
        except _GONE:
            tg.cancel_scope.cancel()  # a failure ends both directions
            return
        try:
            await sink.send_eof()
        except (NotImplementedError, *_GONE):
            tg.cancel_scope.cancel()  # the sink cannot be half-closed (TLS): end both

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(direction, client, upstream, client_pending, 0)
            tg.start_soon(direction, upstream, client, upstream_pending, 1)
    finally:
        await _close(client, upstream)
    return sent[0], sent[1]


async def relay_chunked_streams(
    upstream: anyio.abc.ByteStream,
    client: anyio.abc.ByteStream,
    pending: bytes,
    *,
    dechunk: bool,
) -> RelayResult:
    """:func:`.relay.relay_chunked` on any byte streams: a pump and a client watcher."""
    scanner = ChunkedScanner()
    spans: list[tuple[int, int]] | None = [] if dechunk else None
    outcome: list[tuple[BodyEnd, str]] = []
    sent = 0
    trailing = client_data = b""

    async def watch_client() -> None:
        nonlocal client_data
        try:
            client_data = await client.receive(READ_SIZE)
            detail = "the client sent data during the response"
        except _GONE as exc:
            detail = f"the client left: {exc!r}"
        outcome.append((BodyEnd.CLIENT_GONE, detail))
        tg.cancel_scope.cancel()

    async def pump() -> None:
        nonlocal sent, trailing
        data = pending
        while True:
            if data:
                try:
                    n = scanner.feed(data, spans)
                except ChunkedError as exc:
                    detail = f"invalid chunked body from Pushpin: {exc}"
                    outcome.append((BodyEnd.UPSTREAM_FAILED, detail))
                    return
                pieces = [(0, n)] if spans is None else spans
                try:
                    for start, end in pieces:
                        if end > start:
                            await client.send(data[start:end])
                            sent += end - start
                except _GONE as exc:
                    outcome.append((BodyEnd.CLIENT_GONE, f"the client left: {exc!r}"))
                    return
                if spans is not None:
                    spans.clear()
                if scanner.done:
                    trailing = data[n:]
                    outcome.append((BodyEnd.COMPLETE, ""))
                    return
            try:
                data = await upstream.receive(READ_SIZE)
            except anyio.EndOfStream:
                detail = "Pushpin closed the connection before the end of the body"
                outcome.append((BodyEnd.UPSTREAM_CLOSED, detail))
                return
            except _GONE as exc:
                detail = f"the connection to Pushpin failed: {exc!r}"
                outcome.append((BodyEnd.UPSTREAM_FAILED, detail))
                return

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_client)
            await pump()
            tg.cancel_scope.cancel()
    except BaseException:
        await _close(upstream, client)
        raise
    end, detail = outcome[0]
    return RelayResult(end, sent, scanner.payload_bytes, trailing, client_data, detail)


async def _close(*streams: anyio.abc.ByteStream) -> None:
    """Close each stream, shielded; a TLS peer that never answers close_notify does not
    hold us for more than CLOSE_TIMEOUT (a cancelled TLS close closes forcefully)."""
    for stream in streams:
        with anyio.move_on_after(CLOSE_TIMEOUT, shield=True), contextlib.suppress(Exception):
            await stream.aclose()
