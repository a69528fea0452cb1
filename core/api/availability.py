"""Which dependencies (the database, Redis) are down, and one log line per change of that.

While PostgreSQL or Redis is unreachable every API call that needs it fails the same way; the
error middleware answers those 503 ``service_unavailable`` with ``Retry-After`` and tells the
``DependencyWatch``, which logs when a dependency goes down and when it is back, never per
request. Recovery needs no restart: the ORM's pool and the Redis client reconnect on their own,
and once a call succeeds again (or ``/readyz`` sees the dependency answer) the watch logs it.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis.asyncio as aioredis
from tortoise import connections

from core.outages import DATABASE, REDIS, unavailable_dependency

try:  # asyncpg is the PostgreSQL driver; a SQLite-only install may lack it.
    import asyncpg
except ImportError:  # pragma: no cover
    asyncpg = None

logger = logging.getLogger(__name__)

__all__ = ["DATABASE", "REDIS", "DependencyWatch", "unavailable_dependency"]

CHECK_TIMEOUT_SECONDS = 2.0
RETRY_AFTER_SECONDS = 5


async def database_ok() -> bool:
    """Whether ``SELECT 1`` answers within ``CHECK_TIMEOUT_SECONDS``."""
    try:
        await asyncio.wait_for(
            connections.get("default").execute_query("SELECT 1"), CHECK_TIMEOUT_SECONDS
        )
    except Exception:
        return False
    return True


# Query parameters of a Tortoise URL that configure its pool, not the connection.
_POOL_PARAMETERS = {"minsize", "maxsize", "max_queries", "max_inactive_connection_lifetime"}


async def database_ready(database_url: str) -> bool:
    """Whether the database answers ``SELECT 1`` within ``CHECK_TIMEOUT_SECONDS``, asked on a
    connection of its own (PostgreSQL), so a readiness probe never waits in the pool behind
    the application's queries. SQLite has no pool to wait in: the ORM's connection is asked."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql", "asyncpg"):
        return await database_ok()
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in _POOL_PARAMETERS]
    dsn = parts._replace(scheme="postgresql", query=urlencode(query)).geturl()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            connection = await asyncpg.connect(dsn, timeout=CHECK_TIMEOUT_SECONDS)
            try:
                await connection.fetchval("SELECT 1")
            finally:
                await connection.close(timeout=CHECK_TIMEOUT_SECONDS)
    except Exception:
        return False
    return True


async def redis_ok(redis: aioredis.Redis | None) -> bool | None:
    """Whether Redis answers ``PING``; ``None`` when none is configured."""
    if redis is None:
        return None
    try:
        await asyncio.wait_for(redis.ping(), CHECK_TIMEOUT_SECONDS)
    except Exception:
        return False
    return True


class DependencyWatch:
    """The set of dependencies seen down; logs each transition once."""

    def __init__(self) -> None:
        self._down: set[str] = set()

    @property
    def down(self) -> frozenset[str]:
        return frozenset(self._down)

    def failed(self, name: str, error: BaseException | None = None) -> None:
        if name in self._down:
            return
        self._down.add(name)
        reason = f": {type(error).__name__}: {str(error)[:200]}" if error is not None else ""
        logger.error("%s is unavailable; answering 503 until it is back%s", name, reason)

    def recovered(self, name: str) -> None:
        if name in self._down:
            self._down.discard(name)
            logger.warning("%s is available again", name)

    def report(self, name: str, ok: bool | None) -> None:
        """Record a check's outcome (``None``: not configured, nothing to say)."""
        if ok is True:
            self.recovered(name)
        elif ok is False:
            self.failed(name)

    async def recheck(self, redis: aioredis.Redis | None) -> None:
        """Probe each dependency seen down (cheap: only while one is down)."""
        if DATABASE in self._down:
            self.report(DATABASE, await database_ok())
        if REDIS in self._down:
            self.report(REDIS, await redis_ok(redis))
