"""Ending a background task when one ``cancel()`` may not be enough.

``Task.cancel()`` is a request. Code between it and the task's end can catch the
``CancelledError`` and carry on: a Redis call caught at the wrong moment, or ``asyncio.timeout``
when its own deadline fires at the same instant (Python 3.11). Then ``await task`` waits for
ever: a shutdown that hung this way once, in the bot's lease loop (``bot/leadership.py``). This
cancels again until the task has ended.
"""

from __future__ import annotations

import asyncio

RETRY_SECONDS = 1.0


async def cancel_and_wait(
    task: asyncio.Task, *, retry_seconds: float = RETRY_SECONDS
) -> BaseException | None:
    """Cancel ``task`` and wait until it has ended, cancelling again every ``retry_seconds``;
    the exception it ended with, if it failed rather than stopped (retrieved: never logged as
    "never retrieved")."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=retry_seconds)
    return None if task.cancelled() else task.exception()
