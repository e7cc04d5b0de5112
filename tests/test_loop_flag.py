"""LoopFlag: asyncio.Event's set/is_set/wait on the loop thread, lighter."""

from __future__ import annotations

import asyncio
import sys

import pytest

from compute_emu.aio.loop import LoopFlag


@pytest.mark.anyio
async def test_waiters_wake_on_set_and_a_set_flag_does_not_wait() -> None:
    flag = LoopFlag()
    woken: list[int] = []

    async def waiter(n: int) -> None:
        await flag.wait()
        woken.append(n)

    tasks = [asyncio.ensure_future(waiter(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert not flag.is_set() and woken == []
    flag.set()
    flag.set()  # twice is once
    await asyncio.gather(*tasks)
    assert flag.is_set() and sorted(woken) == [0, 1, 2]
    assert await flag.wait() is True


@pytest.mark.anyio
async def test_a_cancelled_waiter_leaves_nothing_behind() -> None:
    flag = LoopFlag()
    task = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert flag._waiters == []
    flag.set()


def test_it_is_smaller_than_an_asyncio_event() -> None:
    assert sys.getsizeof(LoopFlag()) < sys.getsizeof(asyncio.Event().__dict__)
