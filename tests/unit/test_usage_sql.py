"""The usage SQL builder: every placeholder names its own value, in either dialect."""

from __future__ import annotations

import re
import sqlite3
from decimal import Decimal

import pytest

from core.services.usage.sql import Params, update_counters


def bound(sql: Params, text: str) -> list[object]:
    """The value each placeholder of ``text`` names, in the order they appear."""
    return [sql.values[int(n) - 1] for n in re.findall(r"[$?](\d+)", text)]


@pytest.mark.parametrize(("postgres", "mark"), [(True, "$"), (False, "?")])
def test_each_bind_answers_the_numbered_placeholder_of_its_value(postgres: bool, mark: str) -> None:
    sql = Params(postgres=postgres)

    assert [sql.bind("a"), sql("b"), sql.bind(3)] == [f"{mark}1", f"{mark}2", f"{mark}3"]
    assert sql.values == ["a", "b", 3]


@pytest.mark.parametrize(
    ("postgres", "in_text_order"),
    [
        (True, [11, 12, 7, 7, 100]),  # the locking CTE names the ids first
        (False, [7, 11, 12, 7, 100]),  # SET, ids, WHERE
    ],
)
def test_pieces_built_out_of_text_order_still_name_their_values(
    postgres: bool, in_text_order: list[int]
) -> None:
    sql = Params(postgres=postgres)
    where = f"c.tokens + {sql(7)} <= {sql(100)}"  # built before the SET and the ids
    sets = f"tokens = c.tokens + {sql(7)}"

    statement = update_counters(sql, [11, 12], sets, where)

    # The text's order differs from the build order (WHERE, SET, ids).
    assert sql.values == [7, 100, 7, 11, 12]
    assert bound(sql, statement) == in_text_order


def test_money_compares_as_a_number_on_sqlite_and_binds_plainly_on_postgres() -> None:
    assert Params(postgres=True).money(Decimal("0.5")) == "$1"
    assert Params(postgres=False).money(Decimal("0.5")) == "CAST(?1 AS REAL)"


def test_sqlite_binds_numbered_placeholders_by_number_not_position() -> None:
    sql = Params(postgres=False)
    later = sql("second")  # ?1, written last in the text
    earlier = sql("first")  # ?2, written first
    with sqlite3.connect(":memory:") as connection:
        row = connection.execute(f"SELECT {earlier}, {later}, {earlier}", sql.values).fetchone()

    assert row == ("first", "second", "first")
