"""The thread line: ways from any thread into the event loop, and the loop's lightest primitives.

``main()`` and the app's hooks run on worker threads (:mod:`.workers`); everything that
touches a socket runs on the event loop. :class:`Loop` is the way in from any thread: run a
coroutine and wait for it, call a plain function and wait, or only notify (through the
:class:`~.workers.Mailbox`, one loop wake-up per batch). A :class:`Calls` scope collects one
request's calls so that all are cancelled when its client goes away (:class:`ClientLeft` in
the app's thread). :class:`LoopFlag` and :func:`call_later` are the loop side's lightest
event and timer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from .workers import Mailbox

T = TypeVar("T")


class Timer(Protocol):
    """A call the loop will make later, unless it is cancelled first."""

    def cancel(self) -> None: ...


def call_later(delay: float, func: Callable[..., object], *args: Any) -> Timer:
    """Have the running loop call ``func(*args)`` in ``delay`` seconds (one timer handle:
    lighter than a task that sleeps)."""
    return asyncio.get_running_loop().call_later(delay, func, *args)


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

    def soon(self, func: Callable[..., object], *args: Any) -> None:
        """Call ``func(*args)`` now if this is the loop's thread, else have the loop call it
        soon (:meth:`notify`)."""
        if threading.get_ident() == self.thread_id:
            func(*args)
        else:
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
