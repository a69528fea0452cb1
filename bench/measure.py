"""Measuring helpers shared by the benchmarks: percentiles and event-loop lag."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time

LAG_TIMER_SECONDS = 0.005


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


class LoopLag:
    """Samples how late a 5 ms timer fires: time the loop spent unable to run callbacks."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        for _ in range(1_000_000):  # bounded; cancelled long before
            started = time.perf_counter()
            await asyncio.sleep(LAG_TIMER_SECONDS)
            self.samples.append(time.perf_counter() - started - LAG_TIMER_SECONDS)
