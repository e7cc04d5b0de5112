"""Worker threads for ``main()``: a small elastic pool joined to the event loop by plain queues.

``main()`` is synchronous and may block (``time.sleep``, a slow library), so each running call
has a thread of its own and never holds up the loop or another request. The hand-over is the
cheapest the standard library offers: the loop puts a job on a ``SimpleQueue``; an idle worker
takes it (a new thread is started only when none is idle, up to ``max_threads``); the worker
reports back through a :class:`Mailbox` (one loop wake-up per batch of reports). Idle
workers exit after ``idle_timeout``.

Measured against anyio's ``to_thread.run_sync`` (a capacity limiter, a portal and a condition
per call) this halves the cost of a hello-world request (see the README's Performance part).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

MAX_THREADS = 256  # main() calls that may run at once; more wait for a free thread
IDLE_TIMEOUT = 5.0  # seconds an idle worker waits for work before it exits


class Mailbox:
    """Calls for the event loop from other threads, with one wake-up per batch.

    ``call_soon_threadsafe`` writes a byte to the loop's self-pipe for every call. Under load
    many workers report in the same loop iteration, so the mailbox queues calls and wakes the
    loop only when it is not already due to drain them.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._calls: list[tuple[Callable[..., object], tuple[Any, ...]]] = []
        self._armed = False

    def post(self, func: Callable[..., object], *args: Any) -> None:
        """Have the loop call ``func(*args)`` soon (from any thread; never blocks)."""
        with self._lock:
            self._calls.append((func, args))
            if self._armed:
                return
            self._armed = True
        try:
            self._loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed: nobody to tell
            with self._lock:
                self._armed = False

    def _drain(self) -> None:
        with self._lock:
            calls, self._calls = self._calls, []
            self._armed = False
        for func, args in calls:
            func(*args)


Job = tuple[Callable[..., object], tuple[Any, ...], Callable[[BaseException | None], None]]


class WorkerPool:
    """Runs blocking calls on worker threads; results come back on the event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        max_threads: int = MAX_THREADS,
        idle_timeout: float = IDLE_TIMEOUT,
        name: str = "compute-emu-app",
        mailbox: Mailbox | None = None,
    ) -> None:
        self._mailbox = mailbox or Mailbox(loop)
        self._max = max_threads
        self._idle_timeout = idle_timeout
        self._name = name
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._closed = False

    @property
    def threads(self) -> int:
        """How many worker threads exist now."""
        return self._threads

    def submit(
        self,
        func: Callable[..., object],
        args: tuple[Any, ...],
        on_done: Callable[[BaseException | None], None],
    ) -> None:
        """Run ``func(*args)`` on a worker; ``on_done(error)`` is then called on the loop.

        ``error`` is whatever ``func`` raised, ``BaseException`` included (``SystemExit``,
        ``KeyboardInterrupt``): a worker never dies of its job, and neither does the server.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is closed")
            start = self._idle == 0 and self._threads < self._max
            if start:
                self._threads += 1
            else:
                self._idle -= 1  # that idle worker (or the next to finish) takes this job
        self._jobs.put((func, args, on_done))
        if start:
            thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            thread.start()

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self._idle_timeout)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:  # nobody counted on this worker: it may go
                        self._idle -= 1
                        self._threads -= 1
                        return
                continue  # a job was promised to an idle worker: wait for it
            if job is None:  # shutdown
                with self._lock:
                    self._threads -= 1
                return
            func, args, on_done = job
            error: BaseException | None = None
            try:
                func(*args)
            except BaseException as exc:  # reported to the loop, never fatal
                error = exc
            del func, args, job
            with self._lock:  # idle before the loop hears of it: the next job can come here
                self._idle += 1
            self._mailbox.post(on_done, error)
            del on_done, error

    def close(self) -> None:
        """Let the workers exit once they are idle (running calls are not interrupted)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            count = self._threads
        for _ in range(count):
            self._jobs.put(None)


async def run_in_worker(
    pool: WorkerPool, func: Callable[..., object], *args: Any
) -> BaseException | None:
    """``func(*args)`` on a worker thread; returns what it raised (None if nothing).

    The error is returned, not raised: a ``SystemExit`` or ``KeyboardInterrupt`` from an app
    must never travel through an asyncio task, which would re-raise it out of the event loop.
    Cancelling the caller stops the waiting, not the call (a thread cannot be interrupted).
    """
    future: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    def done(error: BaseException | None) -> None:
        if not future.done():
            future.set_result(error)

    pool.submit(func, args, done)
    return await future
