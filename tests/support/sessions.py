"""A second PostgreSQL session that holds row locks, to force a race's bad interleaving.

Race tests that fire two requests with ``asyncio.gather`` catch a missing lock only when the
scheduler happens to interleave them badly. Instead, a test takes the rows' locks here first (as
the other racer would), starts the code under test, waits until PostgreSQL reports that code
blocked on this session (``pg_blocking_pids``), and only then commits: the code under test always
runs its check after the other transaction, which is the interleaving a missing lock or a missing
re-check gets wrong. PostgreSQL only: mark such tests ``postgres``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

# Generous: only reached when the code under test never blocks (then the test fails anyway).
WAIT_LIMIT_SECONDS = 30.0


class LockingSession:
    """One open transaction on its own connection; see :func:`locking_session`."""

    def __init__(self, connection: asyncpg.Connection, pid: int) -> None:
        self._connection = connection
        self.pid = pid

    async def execute(self, statement: str, *args: Any) -> list[asyncpg.Record]:
        """Run ``statement`` inside the held transaction (rows it locks stay locked)."""
        return await self._connection.fetch(statement, *args)

    async def wait_until_blocking(
        self, count: int = 1, *, unless: asyncio.Future[Any] | None = None
    ) -> None:
        """Return once ``count`` other sessions wait on a lock, directly or behind a waiter.

        ``unless``: a task of the code under test; if it ends first, it never waited, which is
        the bug (a missing lock) the caller is looking for, so that fails the test here.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_LIMIT_SECONDS
        while True:
            # This session sits in an open transaction, and PostgreSQL keeps the first activity
            # snapshot it reads for the whole transaction (stats_fetch_consistency = cache):
            # without clearing it, a racer that blocks after the first look is never seen.
            await self._connection.execute("SELECT pg_stat_clear_snapshot()")
            blocked = await self._connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> $1 "
                "AND cardinality(pg_blocking_pids(pid)) > 0",
                self.pid,
            )
            if blocked >= count:
                return
            if unless is not None and unless.done():
                raise AssertionError(
                    f"the code under test finished without waiting for the lock: {unless!r}"
                )
            if loop.time() > deadline:
                await self._connection.execute("SELECT pg_stat_clear_snapshot()")
                seen = await self._connection.fetch(
                    "SELECT pid, state, wait_event_type, wait_event, pg_blocking_pids(pid) AS by, "
                    "left(query, 80) AS query FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> $1",
                    self.pid,
                )
                raise AssertionError(
                    f"{blocked} of {count} sessions waited for the lock; the others: "
                    + "; ".join(str(dict(row)) for row in seen)
                )
            await asyncio.sleep(0.01)

    async def commit(self) -> None:
        """Commit, letting the blocked sessions go on."""
        await self._connection.execute("COMMIT")


@asynccontextmanager
async def locking_session(database_url: str) -> AsyncIterator[LockingSession]:
    """A session in an open transaction on ``database_url``, rolled back unless committed."""
    connection = await asyncpg.connect(database_url)
    try:
        pid = await connection.fetchval("SELECT pg_backend_pid()")
        await connection.execute("BEGIN")
        yield LockingSession(connection, pid)
        if connection.is_in_transaction():
            await connection.execute("ROLLBACK")
    finally:
        await connection.close()
