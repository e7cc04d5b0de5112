"""Relay bytes between a client connection and an upstream one, once neither speaks HTTP.

- :func:`splice`: both ways, after a ``101 Switching Protocols``.
- :func:`relay_chunked`: a held HTTP response's chunked body, one way, with the client's
  read side watched so that a client leaving is noticed at once.

Two streams of plain TCP (every connection compute-emu's server accepts, and every upstream
connection without TLS) are relayed at the event loop's transport level
(:mod:`compute_emu.aio.relay`: no task, no queue, no copy); any other pair (TLS, test
doubles) goes through a stream-level pump (:mod:`._relay_streams`), with the same results.
Both functions choose at once and return the chosen relay's coroutine to await: they keep no
frame of their own for the hours a held stream lasts.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import anyio.abc

from ..aio import relay as transports
from ..aio.relay import BodyEnd, RelayResult
from ..rules.ws_frames import FrameCounter
from ._relay_streams import relay_chunked_streams, splice_streams

__all__ = ["BodyEnd", "RelayResult", "relay_chunked", "splice"]


def splice(
    client: anyio.abc.ByteStream,
    upstream: anyio.abc.ByteStream,
    client_pending: bytes = b"",
    upstream_pending: bytes = b"",
    inspect: Callable[[int, bytes], None] | None = None,
    counters: tuple[FrameCounter, FrameCounter] | None = None,
) -> Coroutine[Any, Any, tuple[int, int]]:
    """Relay both ways until both directions end; return (bytes to upstream, to client).

    ``client_pending`` and ``upstream_pending`` (bytes each side sent past the 101 head, read
    into an HTTP parser) are delivered first. An EOF from one side half-closes the other's
    write direction and the other direction goes on; a failure or reset of either side
    closes both. Both streams are closed when this returns, also when it is cancelled.
    ``inspect(direction, data)`` (0: to upstream, 1: to client) sees each read once it is
    written on (``--inspect-ws``); without it, ``counters`` (to upstream, to client) are fed
    each read to count WebSocket messages from their frame headers.
    """
    if transports.takes(client, upstream):
        return transports.splice(
            client, upstream, client_pending, upstream_pending, inspect, counters
        )
    if inspect is None and counters is not None:
        feeds = (counters[0].feed, counters[1].feed)

        def inspect(index: int, data: bytes) -> None:
            feeds[index](data)

    return splice_streams(client, upstream, client_pending, upstream_pending, inspect)


def relay_chunked(
    upstream: anyio.abc.ByteStream,
    client: anyio.abc.ByteStream,
    pending: bytes = b"",
    *,
    dechunk: bool = False,
) -> Coroutine[Any, Any, RelayResult]:
    """Copy a chunked response body from ``upstream`` to ``client`` until it ends.

    Both response heads are dealt with already: ``pending`` is the body's first bytes (what
    the parser of ``upstream``'s head read past it). The raw chunked bytes go to the client
    unchanged (only chunk data with ``dechunk``, for an HTTP/1.0 client); the relay stops at
    the body's end (after the client's socket took all of it), when ``upstream`` closes or
    fails, or when the client sends EOF, resets, or sends anything. Nothing either side sent
    beyond that is relayed (see ``RelayResult.trailing``/``client_data``). The streams stay
    open (the caller closes or reuses them); on cancellation both are aborted.
    """
    if transports.takes(upstream, client):
        return transports.relay_chunked(upstream, client, pending, dechunk=dechunk)
    return relay_chunked_streams(upstream, client, pending, dechunk=dechunk)
