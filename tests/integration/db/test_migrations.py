"""The committed migrations and the models never drift apart."""

from __future__ import annotations

import pytest
from tortoise import Tortoise
from tortoise.migrations.autodetector import MigrationAutodetector

from db.config import tortoise_config

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
