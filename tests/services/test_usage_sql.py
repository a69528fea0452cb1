"""The usage SQL builder against the real database of the run (PostgreSQL, or SQLite)."""

from __future__ import annotations

import pytest
from tortoise import connections

from core.services.usage.sql import Params

pytestmark = pytest.mark.sqlite


async def test_placeholders_used_out_of_build_order_read_their_own_values(db: str) -> None:
    connection = connections.get("default")
    sql = Params.for_connection(connection)
    tail = sql("tail")  # bound first, written last
    head = sql("head")

    rows = await connection.execute_query_dict(
        f"SELECT {head} AS a, {tail} AS b, {head} AS c", sql.values
    )

    assert [(r["a"], r["b"], r["c"]) for r in rows] == [("head", "tail", "head")]
