"""The worker pool every thread hop runs on (main(), the app's hooks, reads of a body stream
the app made): results on the loop, errors returned, threads elastic."""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from compute_emu.aio.workers import WorkerPool, call_in_worker, run_in_worker
from tests.support.cache_rig import serve_in_process


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


@pytest.mark.anyio
async def test_call_in_worker_returns_raises_and_never_lets_system_exit_through() -> None:
    pool = WorkerPool(asyncio.get_running_loop(), name="a-worker")

    def exits() -> None:
        raise SystemExit(3)

    try:
        assert await call_in_worker(pool, lambda: threading.current_thread().name) == "a-worker"
        with pytest.raises(ZeroDivisionError):
            await call_in_worker(pool, lambda: 1 / 0)
        with pytest.raises(RuntimeError, match=r"^a hook raised SystemExit$") as wrapped:
            await call_in_worker(pool, exits, what="a hook")
        assert isinstance(wrapped.value.__cause__, SystemExit)
    finally:
        pool.close()


APP_STREAM = """
import threading
from compute_emu.sdk import Body, Request, Response

class Names:
    def __init__(self):
        self.left = 2

    def read_chunk(self):
        if not self.left:
            return b""
        self.left -= 1
        return threading.current_thread().name.encode() + b"\\n"

def main():
    Request.from_client()
    Response.from_body(Body.from_stream(Names())).send_to_client()
"""


def test_a_body_stream_the_app_made_is_read_on_the_apps_worker_pool(tmp_path: Path) -> None:
    """Its read_chunk may block, so the loop has it read by a thread: the pool's, as main()
    (anyio's to_thread had a pool and a limit of its own)."""
    (tmp_path / "src").mkdir()
    (tmp_path / "fastly.toml").write_text('manifest_version = 3\nname = "stream"\n')
    (tmp_path / "src" / "main.py").write_text(textwrap.dedent(APP_STREAM))
    with contextlib.contextmanager(serve_in_process)(tmp_path) as running:
        response = httpx.get(running.url + "/", timeout=10)
    assert response.status_code == 200
    assert response.text.splitlines() == ["compute-emu-app", "compute-emu-app"]
