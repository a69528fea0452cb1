"""``cancel_and_wait``: a task that swallows a cancellation still ends (core/cancellation.py)."""

from __future__ import annotations

import asyncio

from core.cancellation import cancel_and_wait


async def test_a_task_that_swallows_the_first_cancel_is_cancelled_again() -> None:
    swallowed = []

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(True)  # carries on, as a Redis call caught mid-read can

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    assert await cancel_and_wait(task, retry_seconds=0.05) is None
    assert task.cancelled() and swallowed == [True]


async def test_the_exception_a_task_ended_with_is_returned() -> None:
    async def failing() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    failure = await cancel_and_wait(task)
    assert isinstance(failure, RuntimeError) and str(failure) == "cleanup failed"
