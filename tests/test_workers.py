"""The worker pool main() runs on: results on the loop, errors returned, threads elastic."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from compute_emu.aio.workers import WorkerPool, run_in_worker


@pytest.mark.anyio
async def test_a_call_runs_on_a_worker_thread_and_reports_on_the_loop() -> None:
    pool = WorkerPool(asyncio.get_running_loop())
    seen: list[int] = []
    try:
        assert await run_in_worker(pool, lambda: seen.append(threading.get_ident())) is None
    finally:
        pool.close()
    assert seen and seen[0] != threading.get_ident()


@pytest.mark.anyio
@pytest.mark.parametrize("error", [SystemExit(2), KeyboardInterrupt(), BaseException("bare")])
async def test_base_exceptions_are_returned_never_raised_through_the_loop(
    error: BaseException,
) -> None:
    pool = WorkerPool(asyncio.get_running_loop())

    def fail() -> None:
        raise error

    try:
        assert await run_in_worker(pool, fail) is error
        assert await run_in_worker(pool, lambda: None) is None  # the worker lived on
    finally:
        pool.close()


@pytest.mark.anyio
async def test_a_blocked_call_never_delays_another() -> None:
    pool = WorkerPool(asyncio.get_running_loop())
    release = threading.Event()
    try:
        blocked = asyncio.ensure_future(run_in_worker(pool, release.wait, 10))
        await asyncio.sleep(0.05)  # it is running (blocked) now
        started = time.perf_counter()
        await run_in_worker(pool, lambda: None)
        assert time.perf_counter() - started < 1.0  # not 10 s: it got a thread of its own
        assert pool.threads == 2
        release.set()
        await blocked
    finally:
        pool.close()


@pytest.mark.anyio
async def test_idle_workers_are_reused_then_exit() -> None:
    pool = WorkerPool(asyncio.get_running_loop(), idle_timeout=0.2)
    try:
        for _ in range(20):
            await run_in_worker(pool, lambda: None)
        assert pool.threads == 1  # sequential calls share one thread
        deadline = time.monotonic() + 5
        while pool.threads and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert pool.threads == 0
        await run_in_worker(pool, lambda: None)  # and a new one starts when needed
    finally:
        pool.close()


@pytest.mark.anyio
async def test_beyond_max_threads_calls_wait_for_a_free_thread() -> None:
    pool = WorkerPool(asyncio.get_running_loop(), max_threads=2)
    release = threading.Event()
    try:
        calls = [asyncio.ensure_future(run_in_worker(pool, release.wait, 10)) for _ in range(4)]
        await asyncio.sleep(0.1)
        assert pool.threads == 2
        release.set()
        assert await asyncio.gather(*calls) == [None] * 4
    finally:
        pool.close()


def test_close_lets_idle_workers_exit() -> None:
    async def main() -> WorkerPool:
        pool = WorkerPool(asyncio.get_running_loop())
        await asyncio.gather(*(run_in_worker(pool, time.sleep, 0.05) for _ in range(3)))
        pool.close()
        return pool

    pool = asyncio.run(main())
    deadline = time.monotonic() + 5
    while pool.threads and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pool.threads == 0
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None, (), lambda error: None)
