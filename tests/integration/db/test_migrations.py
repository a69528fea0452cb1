"""The committed migrations and the models never drift apart."""

from __future__ import annotations

import pytest
from tortoise import Tortoise
from tortoise.expressions import Q
from tortoise.migrations.autodetector import MigrationAutodetector
from tortoise.transactions import in_transaction

from core.services.content import search_terms
from db.config import tortoise_config
from db.models import Content

pytestmark = pytest.mark.sqlite


async def test_models_match_the_committed_migrations(db: str) -> None:
    apps_config = tortoise_config(db)["apps"]
    detector = MigrationAutodetector(Tortoise.apps, apps_config)
    writers = await detector.changes()
    pending = [op for writer in writers for op in writer.operations]
    assert pending == [], f"models changed without a migration: {pending}"


async def test_migrated_schema_has_every_model_table(db: str) -> None:
    conn = Tortoise.get_connection("default")
    expected = {m._meta.db_table for app in Tortoise.apps.values() for m in app.values()}
    if conn.capabilities.dialect == "postgres":
        rows = await conn.execute_query_dict(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
        )
    else:
        rows = await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type='table'")
    assert expected <= {row["name"] for row in rows}


@pytest.mark.postgres  # trigram indexes exist on PostgreSQL only; SQLite migrates without them
async def test_content_search_is_served_by_trigram_indexes_on_postgresql(db: str) -> None:
    """The search filter Tortoise writes (UPPER(CAST(col AS VARCHAR)) LIKE …) uses the indexes."""
    term = search_terms("کتاب 1403")[0]
    query = Content.filter(Q(title__icontains=term) | Q(body__icontains=term))
    async with in_transaction() as tx:  # one connection for both statements
        await tx.execute_script("SET LOCAL enable_seqscan = off")  # tiny tables: force the choice
        plan = await tx.execute_query_dict("EXPLAIN " + query.sql(params_inline=True))
    text = "\n".join(row["QUERY PLAN"] for row in plan)
    assert "content_title_trgm_idx" in text and "content_body_trgm_idx" in text, text
