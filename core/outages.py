"""What an unreachable database or Redis looks like, and riding a write out through an outage.

``unavailable_dependency`` reads an exception (and its causes) as "the database is
unreachable", "Redis is unreachable" or neither; the API answers the first two 503
(``core/api/availability.py``) and :func:`retry_through_outage` keeps a write that must land
(concluding a generation job) trying with backoff until the database answers again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis import exceptions as redis_errors
from tortoise.exceptions import DBConnectionError

logger = logging.getLogger(__name__)

DATABASE = "database"
REDIS = "redis"

try:  # asyncpg is the PostgreSQL driver; a SQLite-only install may lack it.
    import asyncpg

    _DATABASE_ERRORS: tuple[type[BaseException], ...] = (
        DBConnectionError,
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.CannotConnectNowError,
        asyncpg.TooManyConnectionsError,
    )
except ImportError:  # pragma: no cover
    _DATABASE_ERRORS = (DBConnectionError,)
_REDIS_ERRORS = (redis_errors.ConnectionError, redis_errors.TimeoutError)

T = TypeVar("T")


def unavailable_dependency(error: BaseException) -> str | None:
    """``"database"`` or ``"redis"`` when ``error`` means that dependency is unreachable."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _REDIS_ERRORS):
            return REDIS
        if isinstance(current, _DATABASE_ERRORS):
            return DATABASE
        current = current.__cause__ or current.__context__
    # The database driver opens pool connections lazily and lets a refused or timed-out
    # connect through as the bare OSError; Redis wraps its own (matched above).
    if isinstance(error, OSError | TimeoutError):
        return DATABASE
    return None


async def retry_through_outage(
    write: Callable[[], Awaitable[T]],
    *,
    what: str,
    patience_seconds: float,
    other_attempts: int = 4,
    first_backoff_seconds: float = 0.05,
    max_backoff_seconds: float = 5.0,
) -> T:
    """``await write()`` until it goes through; the last error when giving up.

    While the database is unreachable the write is tried again with a doubling backoff (at
    most ``max_backoff_seconds`` apart) for up to ``patience_seconds``; any other error is
    tried ``other_attempts`` times in all (a bug does not become two minutes of retries).
    ``write`` must be safe to repeat: one transaction that checks the state it changes.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience_seconds
    backoff = first_backoff_seconds
    attempt = others = 0
    waiting = False
    while True:
        attempt += 1
        try:
            result = await write()
        except Exception as exc:
            outage = unavailable_dependency(exc) == DATABASE
            others += 0 if outage else 1
            if others >= other_attempts or loop.time() + backoff > deadline:
                raise
            if not outage:
                logger.warning("%s failed (try %d); trying again", what, attempt, exc_info=True)
            elif not waiting:
                waiting = True  # one line for the outage, not one per try
                logger.warning(
                    "%s waits for the database (%s: %s)", what, type(exc).__name__, str(exc)[:200]
                )
        else:
            if attempt > 1:
                logger.info("%s went through after %d tries", what, attempt)
            return result
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff_seconds)
