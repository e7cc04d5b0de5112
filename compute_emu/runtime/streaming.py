"""``Response.stream_to_client()``: body chunks written by the app's thread, sent as they come.

A small bounded channel joins the app's thread to the connection task, so a slow client
slows the writer down (back-pressure) instead of piling data up in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ..aio.loop import Calls, ClientLeft, Loop

BUFFERED_WRITES = 8


class StreamingSink:
    """The host side of a ``StreamingBody`` (create it on the loop)."""

    def __init__(self, loop: Loop | Calls) -> None:
        self._loop = loop
        send, receive = anyio.create_memory_object_stream[bytes](BUFFERED_WRITES)
        self._send: MemoryObjectSendStream[bytes] = send
        self._receive: MemoryObjectReceiveStream[bytes] = receive
        self.finished = False

    # -- the app's thread --------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Hand one chunk to the connection (blocks while the client is behind)."""
        if self.finished:
            raise RuntimeError("the streaming body was already finished")
        if not data:
            return
        try:
            self._loop.run(self._send.send, data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise ClientLeft from None

    def finish(self) -> None:
        """End the body cleanly (idempotent)."""
        if not self.finished:
            self.finished = True
            self._loop.call(self._send.close)

    # -- the loop ------------------------------------------------------------------------
    def close(self) -> None:
        """End the body from the loop (main() returned without finishing it)."""
        self.finished = True
        self._send.close()

    def abort(self) -> None:
        """The client is gone: make further writes fail at once (``BrokenPipeError``)."""
        self._receive.close()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The chunks as the app writes them, until it finishes."""
        async with self._receive:
            async for chunk in self._receive:
                yield chunk
