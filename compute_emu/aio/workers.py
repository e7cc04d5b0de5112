"""The worker threads: a small elastic pool joined to the event loop by plain queues.

Every thread hop of compute-emu goes through one pool per server: ``main()``, the app's hooks,
the reads of a body stream the app made itself (:func:`call_in_worker`).

``main()`` is synchronous and may block (``time.sleep``, a slow library), so each running call
has a thread of its own and never holds up the loop or another request. The hand-over is the
cheapest the standard library offers: the loop hands a job to the most recently idle worker
through that worker's own ``SimpleQueue`` (a new thread starts only when none is idle, up to
``max_threads``); the worker reports back through a :class:`Mailbox` (one loop wake-up per
batch of reports). Idle workers exit after ``idle_timeout``.

Measured against anyio's ``to_thread.run_sync`` (a capacity limiter, a portal and a condition
per call) this halves the cost of a hello-world request (see docs/performance.md).
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

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


class _Worker:
    """One thread's mailbox: at most one job is handed to it at a time."""

    __slots__ = ("jobs",)

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()


class WorkerPool:
    """Runs blocking calls on worker threads; results come back on the event loop.

    Idle workers wait on a stack: a job goes to the one that became idle last, so under a
    steady load the same few threads do the work (warm caches, one malloc arena) and the
    others time out and exit, instead of a shared queue waking each thread in turn.
    """

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
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # a stack: the last to become idle works first
        self._backlog: collections.deque[Job] = collections.deque()  # all threads busy
        self._threads = 0
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
        job: Job = (func, args, on_done)
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is closed")
            if self._idle:
                self._idle.pop().jobs.put(job)
                return
            if self._threads >= self._max:
                self._backlog.append(job)
                return
            self._threads += 1
        threading.Thread(target=self._work, args=(job,), name=self._name, daemon=True).start()

    def _work(self, job: Job | None) -> None:
        me = _Worker()
        while job is not None:
            func, args, on_done = job
            error: BaseException | None = None
            try:
                func(*args)
            except BaseException as exc:  # reported to the loop, never fatal
                error = exc
            del func, args, job
            # idle (or given the next backlog job) before the loop hears of this one, so a job
            # the loop submits in answer comes to this warm thread
            job, waiting = self._claim(me)
            self._mailbox.post(on_done, error)
            del on_done, error
            if waiting:
                job = self._wait(me)
        with self._lock:
            self._threads -= 1

    def _claim(self, me: _Worker) -> tuple[Job | None, bool]:
        """A backlog job; else (None, True) with ``me`` on the idle stack; (None, False) once
        the pool is closed."""
        with self._lock:
            if self._backlog:
                return self._backlog.popleft(), False
            if self._closed:
                return None, False
            self._idle.append(me)
            return None, True

    def _wait(self, me: _Worker) -> Job | None:
        """The job handed to this idle worker, or None when it should exit."""
        try:
            return me.jobs.get(timeout=self._idle_timeout)
        except queue.Empty:
            with self._lock:
                if me in self._idle:  # nobody handed it a job meanwhile: it may go
                    self._idle.remove(me)
                    return None
            return me.jobs.get()  # a job (or the shutdown) was handed over just now

    def close(self) -> None:
        """Let the workers exit once they are idle (running calls are not interrupted)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.jobs.put(None)


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


async def call_in_worker(
    pool: WorkerPool, func: Callable[..., T], *args: Any, what: str = "a call on a worker thread"
) -> T:
    """``func(*args)`` on a worker thread: what it returns, or the ``Exception`` it raised.

    A ``BaseException`` that is not an ``Exception`` (``SystemExit``, ``KeyboardInterrupt``)
    comes back as ``RuntimeError("<what> raised SystemExit")`` caused by it: it never travels
    through the loop. Cancelling the caller stops the waiting, not the call.
    """
    result: list[T] = []

    def call() -> None:
        result.append(func(*args))

    error = await run_in_worker(pool, call)
    if isinstance(error, Exception):
        raise error
    if error is not None:
        raise RuntimeError(f"{what} raised {type(error).__name__}") from error
    return result[0]
