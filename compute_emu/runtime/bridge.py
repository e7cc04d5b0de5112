"""Bodies across the thread line between the app's thread and the event loop.

``main()`` runs in a worker thread; everything that touches a socket runs on the event loop
(:mod:`compute_emu.aio.loop` is the way between them). Body streams handed to the SDK therefore
have two faces: ``aread()`` for the loop (used when a body is passed on untouched, with no
thread hop per chunk) and ``read_chunk()`` for the app, which blocks its thread while the loop
does the read. A stream the app made itself is read on the loop's behalf by a worker thread
(:func:`iterate_body`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from ..aio.loop import Calls, Loop
from ..aio.workers import WorkerPool, call_in_worker
from ..sdk._body import BodyStream

# How much of a client body the app has read is kept, so that a later handoff can still send
# the original body. Past this, the kept bytes are dropped and a handoff is refused.
HANDOFF_REPLAY_LIMIT = 1024 * 1024


class LoopBodyStream:
    """A body stream whose chunks come from the event loop (client or backend bodies)."""

    def __init__(
        self,
        loop: Loop | Calls,
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
        # With record=True the chunks the *app* reads are kept (the same bytes objects, no
        # copy), so the body can be replayed: a handoff sends the client's original body even
        # if the app consumed it. Only while a handoff is still possible, and only up to
        # HANDOFF_REPLAY_LIMIT; bodies passed on by the loop (to a backend) are never kept.
        self.recorded: list[bytes] | None = [] if record else None
        self._recorded_bytes = 0
        self.replay_lost = False  # the app read more than could be kept

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
        if self.recorded is not None and chunk:
            self._recorded_bytes += len(chunk)
            if self._recorded_bytes > HANDOFF_REPLAY_LIMIT:
                self.stop_recording(lost=True)
            else:
                self.recorded.append(chunk)
        return chunk

    def stop_recording(self, *, lost: bool = False) -> None:
        """Keep nothing more (a handoff is no longer possible, or too much was read)."""
        self.recorded = None
        self.replay_lost = self.replay_lost or lost

    def take_recorded(self) -> bytes:
        """What the app already read (for a handoff), and stop recording."""
        data = b"".join(self.recorded or ())
        self.recorded = None
        return data


async def iterate_body(
    prefix: bytes, stream: BodyStream | None, workers: WorkerPool
) -> AsyncIterator[bytes]:
    """The chunks of a detached body, read on the loop; a stream the app made itself (its
    ``read_chunk`` may block) is read by a thread of the app's worker pool, ``workers``."""
    if prefix:
        yield prefix
    if stream is None:
        return
    if isinstance(stream, LoopBodyStream):
        while chunk := await stream.aread():
            yield chunk
    else:
        read = stream.read_chunk
        while chunk := await call_in_worker(workers, read, what="the body stream's read_chunk"):
            yield chunk


def body_length(prefix: bytes, stream: BodyStream | None) -> int | None:
    """Total length of a detached body if known without reading it."""
    if stream is None:
        return len(prefix)
    if isinstance(stream, LoopBodyStream) and stream.remaining is not None:
        return len(prefix) + stream.remaining
    return None
