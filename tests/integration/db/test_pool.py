"""The pooled PostgreSQL connection sends no reset query when a statement releases it."""

from __future__ import annotations

import asyncpg
import pytest
from tortoise import connections

from db.models import User

pytestmark = pytest.mark.postgres


async def last_query_of(database_url: str, pid: int) -> str:
    """What the backend ``pid`` ran last, as PostgreSQL itself reports it."""
    observer = await asyncpg.connect(database_url)
    try:
        return await observer.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
    finally:
        await observer.close()


async def test_a_statement_outside_a_transaction_is_one_round_trip(db: str) -> None:
    client = connections.get("default")
    # The pool keeps one connection at rest between statements: the same backend each time.
    _, [row] = await client.execute_query("SELECT pg_backend_pid() AS pid /* probe */")
    assert "probe" in await last_query_of(db, row["pid"])  # not RESET ALL after it
    await User.filter(id=0).exists()
    _, [again] = await client.execute_query("SELECT pg_backend_pid() AS pid /* again */")
    if again["pid"] == row["pid"]:
        assert "again" in await last_query_of(db, row["pid"])


async def test_a_connection_released_mid_transaction_is_rolled_back(db: str) -> None:
    pool = connections.get("default")._pool  # the asyncpg pool itself
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")
        await conn.execute(
            "INSERT INTO users (phone_number, language, is_active, created_at, updated_at)"
            " VALUES ('+989120000009', 'fa', true, now(), now())"
        )
    assert not await User.filter(phone_number="+989120000009").exists()
