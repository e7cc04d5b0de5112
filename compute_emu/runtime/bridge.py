"""The bridge between the app's thread and the event loop.

``main()`` runs in a worker thread; everything that touches a socket runs on the event loop.
Body streams handed to the SDK therefore have two faces: ``aread()`` for the loop (used when a
body is passed on untouched, with no thread hop per chunk) and ``read_chunk()`` for the app,
which blocks its thread while the loop does the read.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from ..aio.workers import Mailbox
from ..sdk._body import BodyStream

T = TypeVar("T")

# How much of a client body the app has read is kept, so that a later handoff can still send
# the original body. Past this, the kept bytes are dropped and a handoff is refused.
HANDOFF_REPLAY_LIMIT = 1024 * 1024


class ClientLeft(BrokenPipeError):
    """The client closed its connection: the request's pending I/O was cancelled."""

    def __init__(self) -> None:
        super().__init__("the client closed the connection")


class LoopFlag:
    """``asyncio.Event``'s ``set``/``is_set``/``wait`` for the loop thread, without its deque
    (760 bytes, kept by every held connection's request for as long as it is held)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class Loop:
    """A handle on the running event loop, usable from any thread.

    Calls from the app's thread are plain ``run_coroutine_threadsafe``/``call_soon_threadsafe``
    (no anyio portal per call). A :class:`Calls` scope can collect them so that they can all be
    cancelled when the request's client goes away.
    """

    def __init__(self) -> None:
        self.asyncio_loop = asyncio.get_running_loop()  # compute-emu runs anyio on asyncio
        self.thread_id = threading.get_ident()
        self.mailbox = Mailbox(self.asyncio_loop)

    def run(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``func(*args)`` on the loop and wait for it (call from a non-loop thread)."""
        return asyncio.run_coroutine_threadsafe(_call(func, args), self.asyncio_loop).result()

    def call(self, func: Callable[..., T], *args: Any) -> T:
        """Call a plain function on the loop thread and wait for it."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(func(*args))
            except Exception as exc:
                future.set_exception(exc)

        self.asyncio_loop.call_soon_threadsafe(run)
        return future.result()

    def notify(self, func: Callable[..., object], *args: Any) -> None:
        """Have the loop call ``func(*args)`` soon, without waiting (thread-safe)."""
        self.mailbox.post(func, *args)


async def _call(func: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> T:
    return await func(*args)


class Calls:
    """The loop calls one request's app thread is waiting for, cancelled together on demand.

    ``run`` is :meth:`Loop.run` plus bookkeeping; after :meth:`cancel_all` (the client left)
    every pending and later call raises :class:`ClientLeft` in the app's thread.
    """

    def __init__(self, loop: Loop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self.cancelled = False

    def run(self, func: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``func(*args)`` on the loop and wait; raises ClientLeft once cancelled."""
        future = asyncio.run_coroutine_threadsafe(_call(func, args), self._loop.asyncio_loop)
        with self._lock:
            if self.cancelled:
                future.cancel()
                raise ClientLeft
            self._pending.add(future)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise ClientLeft from None
        finally:
            with self._lock:
                self._pending.discard(future)

    def call(self, func: Callable[..., T], *args: Any) -> T:
        """Call a plain function on the loop thread and wait for it."""
        if self.cancelled:
            raise ClientLeft
        return self._loop.call(func, *args)

    def notify(self, func: Callable[..., object], *args: Any) -> None:
        """Have the loop call ``func(*args)`` soon, without waiting."""
        self._loop.notify(func, *args)

    def cancel_all(self) -> None:
        """Cancel what the app's thread waits for, and everything it asks for later."""
        with self._lock:
            self.cancelled = True
            pending, self._pending = self._pending, set()
        for future in pending:
            future.cancel()


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
