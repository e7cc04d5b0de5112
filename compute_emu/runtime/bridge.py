"""The bridge between the app's thread and the event loop.

``main()`` runs in a worker thread; everything that touches a socket runs on the event loop.
Body streams handed to the SDK therefore have two faces: ``aread()`` for the loop (used when a
body is passed on untouched, with no thread hop per chunk) and ``read_chunk()`` for the app,
which blocks its thread while the loop does the read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from ..sdk._body import BodyStream

T = TypeVar("T")


class Loop:
    """A handle on the running event loop, usable from any thread."""

    def __init__(self) -> None:
        self.token = anyio.lowlevel.current_token()
        self._asyncio_loop = asyncio.get_running_loop()  # compute-emu runs anyio on asyncio

    def run(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``func(*args)`` on the loop and wait for it (call from a non-loop thread)."""
        return anyio.from_thread.run(func, *args, token=self.token)  # type: ignore[arg-type]

    def call(self, func: Callable[..., T], *args: Any) -> T:
        """Call a plain function on the loop thread and wait for it."""
        return anyio.from_thread.run_sync(func, *args, token=self.token)

    def notify(self, func: Callable[..., object], *args: Any) -> None:
        """Have the loop call ``func(*args)`` soon, without waiting (thread-safe)."""
        self._asyncio_loop.call_soon_threadsafe(func, *args)


class LoopBodyStream:
    """A body stream whose chunks come from the event loop (client or backend bodies)."""

    def __init__(
        self,
        loop: Loop,
        read: Callable[[], Awaitable[bytes]],
        length: int | None,
        *,
        record: bool = False,
    ) -> None:
        self._loop = loop
        self._read = read
        self.length = length  # declared total length, if the sender declared one
        self.received = 0
        self._done = False
        # With record=True every chunk the *app* reads is kept, so the body can be replayed
        # (a handoff sends the client's original body even if the app consumed it). Bodies
        # passed on by the loop (to a backend) are not kept: they are never held in memory.
        self.recorded: bytearray | None = bytearray() if record else None

    @property
    def remaining(self) -> int | None:
        """Bytes still to come, if the total was declared."""
        return None if self.length is None else max(self.length - self.received, 0)

    async def aread(self) -> bytes:
        """Next chunk, on the loop; ``b""`` at the end."""
        if self._done:
            return b""
        chunk = await self._read()
        self.received += len(chunk)
        if not chunk:
            self._done = True
        return chunk

    def read_chunk(self) -> bytes:
        """Next chunk, from the app's thread."""
        if self._done:
            return b""
        chunk = self._loop.run(self.aread)
        if self.recorded is not None:
            self.recorded += chunk
        return chunk


async def iterate_body(prefix: bytes, stream: BodyStream | None) -> AsyncIterator[bytes]:
    """The chunks of a detached body, read on the loop."""
    if prefix:
        yield prefix
    if stream is None:
        return
    if isinstance(stream, LoopBodyStream):
        while chunk := await stream.aread():
            yield chunk
    else:  # a stream the app made itself: read it off the loop
        while chunk := await anyio.to_thread.run_sync(stream.read_chunk):
            yield chunk


def body_length(prefix: bytes, stream: BodyStream | None) -> int | None:
    """Total length of a detached body if known without reading it."""
    if stream is None:
        return len(prefix)
    if isinstance(stream, LoopBodyStream) and stream.remaining is not None:
        return len(prefix) + stream.remaining
    return None
