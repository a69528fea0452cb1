"""Hand-written SQL for the few statements every bot update runs, on PostgreSQL only.

Building a query through Tortoise (filters resolved, pypika rendering, its copies) costs more
CPU than the round trip it describes, and the bot's hot path (the actor, the conversation state,
the re-check of a chosen project and prompt) runs a handful of them for every update. Those few
services ask :func:`postgres` for the connection: on PostgreSQL they send fixed, parameterised
SQL (asyncpg prepares each text once per connection), elsewhere (SQLite) they keep their ORM
query. Both paths return the same thing; tests compare them on the same rows.

The statements go through the client's ``execute_query``, as every ORM statement does, so a
transaction in progress and Tortoise's error translation apply to them too.
"""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

M = TypeVar("M", bound=Model)


def postgres() -> BaseDBAsyncClient | None:
    """The default connection when it is PostgreSQL (the fast path applies), else ``None``."""
    client = connections.get("default")
    return client if client.capabilities.dialect == "postgres" else None


async def fetch(client: BaseDBAsyncClient, sql: str, *values: Any) -> list[Any]:
    """The rows of one SELECT (or ``… RETURNING``), each readable by column name."""
    return (await client.execute_query(sql, list(values)))[1]


async def execute(client: BaseDBAsyncClient, sql: str, *values: Any) -> int:
    """Run one UPDATE, INSERT or DELETE; how many rows it changed."""
    return (await client.execute_query(sql, list(values)))[0]


def model(cls: type[M], row: Any) -> M:
    """A model instance from a row holding all its columns, converted as the ORM converts them."""
    return cls._init_from_db(**dict(row))


@cache
def column_names(cls: type[Model]) -> tuple[str, ...]:
    """Every column of ``cls``, in the model's order (called once Tortoise is initialised: the
    foreign keys' columns exist from then on)."""
    return tuple(cls._meta.fields_db_projection.values())


@cache
def columns(cls: type[Model], alias: str) -> str:
    """Every column of ``cls`` from table ``alias``, each named ``<alias>_<column>``."""
    return ", ".join(f"{alias}.{column} AS {alias}_{column}" for column in column_names(cls))


def prefixed(cls: type[M], row: Any, alias: str) -> M:
    """The model instance of the columns :func:`columns` selected for ``alias``."""
    start = len(alias) + 1
    return cls._init_from_db(
        **{key[start:]: value for key, value in row.items() if key.startswith(f"{alias}_")}
    )
