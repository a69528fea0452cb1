"""Raw SQL for the usage counters on PostgreSQL and SQLite: parameters that cannot be misnumbered.

Tortoise filters cannot express column arithmetic under a condition (``used + reserved + n <=
cap``), so the counters are written with raw statements. :class:`Params` binds each value and
returns a *numbered* placeholder (``$3`` on PostgreSQL, ``?3`` on SQLite): a placeholder names its
value, so the statement text may use them in any order and any number of times; nothing depends on
the order in which the pieces of the text are built.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient


class Params:
    """The values of one statement; each :meth:`bind` answers the placeholder of its value."""

    def __init__(self, *, postgres: bool) -> None:
        self.postgres = postgres
        self.values: list[Any] = []

    @classmethod
    def for_connection(cls, connection: BaseDBAsyncClient) -> Params:
        """The parameters for ``connection``'s dialect."""
        return cls(postgres=connection.capabilities.dialect == "postgres")

    def bind(self, value: Any) -> str:
        """Add ``value``; its placeholder (``$n`` or ``?n``, n counting from 1)."""
        self.values.append(value)
        return f"{'$' if self.postgres else '?'}{len(self.values)}"

    __call__ = bind

    def money(self, value: Decimal) -> str:
        """A Decimal parameter that compares as a number on both dialects."""
        # SQLite binds Decimal as TEXT (Tortoise registers str as its adapter), and any number
        # compares below any TEXT there: without the cast every cost cap would pass.
        placeholder = self.bind(value)
        return placeholder if self.postgres else f"CAST({placeholder} AS REAL)"

    def id_list(self, ids: list[int]) -> str:
        """``$1, $2, …`` of ``ids``, for ``IN (…)``."""
        return ", ".join(self.bind(i) for i in ids)


def update_counters(sql: Params, ids: list[int], sets: str, where: str = "TRUE") -> str:
    """One UPDATE of the counters ``ids`` (alias ``c``) returning the ids it changed.

    On PostgreSQL the rows are locked first in id order (``ORDER BY id FOR UPDATE``): every
    writer locks counters in the same order, so concurrent reservations and settlements queue
    instead of deadlocking. SQLite runs one transaction at a time and needs no lock.
    """
    id_list = sql.id_list(ids)
    if sql.postgres:
        return (
            "WITH locked AS (SELECT id FROM usage_counters "  # noqa: S608 (placeholders only)
            f"WHERE id IN ({id_list}) ORDER BY id FOR UPDATE) "
            f"UPDATE usage_counters AS c SET {sets} FROM locked "
            f"WHERE c.id = locked.id AND {where} RETURNING c.id"
        )
    return (
        f"UPDATE usage_counters AS c SET {sets} "  # noqa: S608 (placeholders only)
        f"WHERE c.id IN ({id_list}) AND {where} RETURNING id"
    )
