"""Scratch databases for the test session, and emptying them between tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient

MIGRATIONS_TABLE = "tortoise_migrations"


def _split(database_url: str) -> tuple[str, str]:
    """(URL of the maintenance database ``postgres``, name of the test database)."""
    parts = urlsplit(database_url.replace("postgres://", "postgresql://", 1))
    name = parts.path.lstrip("/")
    return urlunsplit(parts._replace(path="/postgres")), name


async def create_scratch_database(database_url: str) -> None:
    """Drop and recreate the test database so a session starts from an empty schema."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite://"))
        await asyncio.to_thread(path.unlink, missing_ok=True)
        return
    admin_url, name = _split(database_url)
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_scratch_database(database_url: str) -> None:
    """Remove the test database once the session is over."""
    if database_url.startswith("sqlite"):
        return
    admin_url, name = _split(database_url)
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def truncate_all(connection: BaseDBAsyncClient, apps: dict) -> None:
    """Empty every model table in one statement (PostgreSQL) or in dependency order (SQLite)."""
    models = [model for app in apps.values() for model in app.values()]
    tables = [model._meta.db_table for model in models]
    if connection.capabilities.dialect == "postgres":
        quoted = ", ".join(f'"{table}"' for table in tables)
        await connection.execute_script(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
        return
    # SQLite: foreign keys are enforced, so children first. Deleting repeatedly in passes is
    # simpler than sorting and the tables are tiny.
    remaining = list(tables)
    for _ in range(len(remaining) + 1):
        failed = []
        for table in remaining:
            try:
                # Table names come from our own models, never from input.
                await connection.execute_script(f'DELETE FROM "{table}"')  # noqa: S608
            except Exception:  # a parent whose children are not gone yet
                failed.append(table)
        if not failed:
            break
        remaining = failed
    await connection.execute_script("DELETE FROM sqlite_sequence")
