"""The six counters of a generation: create them, hold a reservation, close it, move amounts.

Every generation counts in six counters: its organisation, workspace and user, each daily and
monthly (:data:`~core.services.usage.values.PERIODS`). A reservation adds one request and the
worst-case tokens and cost to the *reserved* columns of all six in one conditional ``UPDATE``
(each row ``WHERE used + reserved + n <= cap``); settling moves it to the used columns. The
statements are built with :class:`~core.services.usage.sql.Params` for both dialects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import product
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from core.services.usage.errors import UsageLimitExceeded
from core.services.usage.sql import Params, update_counters
from core.services.usage.values import PERIODS, SCOPES, Amount, Caps, quantize_cost
from db.models import ReservationStatus, UsageCounter, UsagePeriod, UsageScope

CapsByScope = dict[tuple[UsageScope, UsagePeriod], Caps]

_COUNTER_COLUMNS = (
    "organization_id, scope, scope_id, period, period_key, requests, tokens, cost_usd, "
    "reserved_requests, reserved_tokens, reserved_cost_usd, updated_at"
)


@dataclass(frozen=True, slots=True)
class CounterKey:
    """What identifies one counter row."""

    organization_id: int
    scope: UsageScope
    scope_id: int
    period: UsagePeriod
    period_key: str


@dataclass(frozen=True, slots=True)
class Closed:
    """What a reservation held, as it was closed."""

    counter_ids: list[int]
    amount: Amount


async def ensure_counters(
    connection: BaseDBAsyncClient, keys: list[CounterKey], at: datetime
) -> list[UsageCounter]:
    """The counter of every key, creating missing ones (race-free: the unique key backs it)."""
    condition = Q(
        *(
            Q(
                organization_id=k.organization_id,
                scope=k.scope,
                scope_id=k.scope_id,
                period=k.period,
                period_key=k.period_key,
            )
            for k in keys
        ),
        join_type="OR",
    )
    found = await UsageCounter.filter(condition).using_db(connection)
    if len(found) < len(keys):  # the first generation of a period in some scope
        have = {
            CounterKey(c.organization_id, c.scope, c.scope_id, c.period, c.period_key)
            for c in found
        }
        missing = sorted(
            (k for k in keys if k not in have),
            key=lambda k: (k.scope.value, k.scope_id, k.period.value, k.period_key),
        )
        sql = Params.for_connection(connection)
        rows = ", ".join(
            f"({sql(k.organization_id)}, {sql(k.scope.value)}, {sql(k.scope_id)}, "
            f"{sql(k.period.value)}, {sql(k.period_key)}, 0, 0, 0, 0, 0, 0, {sql(at)})"
            for k in missing
        )
        # ON CONFLICT DO NOTHING (PostgreSQL and SQLite >= 3.24): a concurrent creator wins
        # quietly, where get_or_create's IntegrityError would abort a PostgreSQL transaction.
        conflict = "ON CONFLICT (organization_id, scope, scope_id, period, period_key) DO NOTHING"
        await connection.execute_query(
            f"INSERT INTO usage_counters ({_COUNTER_COLUMNS}) VALUES {rows} {conflict}",  # noqa: S608
            sql.values,
        )
        found = await UsageCounter.filter(condition).using_db(connection)
    return sorted(found, key=lambda c: c.id)


async def hold(
    connection: BaseDBAsyncClient,
    counters: list[UsageCounter],
    caps: CapsByScope,
    want: Amount,
    at: datetime,
) -> set[int]:
    """Add ``want`` to the reserved columns of each counter whose caps allow it; their ids."""
    sql = Params.for_connection(connection)
    sets = (
        f"reserved_requests = c.reserved_requests + {sql(want.requests)}, "
        f"reserved_tokens = c.reserved_tokens + {sql(want.tokens)}, "
        f"reserved_cost_usd = ROUND(c.reserved_cost_usd + {sql.money(want.cost_usd)}, 6), "
        f"updated_at = {sql(at)}"
    )
    cases = [
        f"WHEN {sql(c.id)} THEN ({_fits(sql, want, caps[c.scope, c.period])})"
        for c in counters
        if caps[c.scope, c.period].any
    ]
    where = f"CASE c.id {' '.join(cases)} ELSE TRUE END" if cases else "TRUE"
    statement = update_counters(sql, [c.id for c in counters], sets, where)
    rows = await connection.execute_query_dict(statement, sql.values)
    return {row["id"] for row in rows}


def _fits(sql: Params, want: Amount, cap: Caps) -> str:
    """The SQL condition that one counter has room for ``want`` under ``cap``."""
    conditions = []
    if cap.requests is not None:
        conditions.append(
            f"c.requests + c.reserved_requests + {sql(want.requests)} <= {sql(cap.requests)}"
        )
    if cap.tokens is not None:
        conditions.append(f"c.tokens + c.reserved_tokens + {sql(want.tokens)} <= {sql(cap.tokens)}")
    if cap.cost_usd is not None:
        # ROUND to the stored precision: SQLite does this arithmetic in binary floating point.
        conditions.append(
            f"ROUND(c.cost_usd + c.reserved_cost_usd + {sql.money(want.cost_usd)}, 6) "
            f"<= {sql.money(quantize_cost(cap.cost_usd))}"
        )
    return " AND ".join(conditions)


async def refusal(
    connection: BaseDBAsyncClient,
    refused: list[UsageCounter],
    caps: CapsByScope,
    want: Amount,
    resets: dict[UsagePeriod, datetime],
) -> UsageLimitExceeded:
    """The error naming a cap that refused ``want`` (in organisation-to-user, daily-first order).

    ``resets`` is when each period of the refused reservation ends.
    """
    # Fresh values: these rows are locked (PostgreSQL) or the transaction is alone (SQLite).
    fresh = await UsageCounter.filter(id__in=[c.id for c in refused]).using_db(connection)
    order = {(scope, period): n for n, (scope, period) in enumerate(product(SCOPES, PERIODS))}
    for counter in sorted(fresh, key=lambda c: order[c.scope, c.period]):
        cap = caps[counter.scope, counter.period]
        checks: list[tuple[str, int | Decimal | None, int | Decimal]] = [
            ("requests", cap.requests, counter.requests + counter.reserved_requests + 1),
            ("tokens", cap.tokens, counter.tokens + counter.reserved_tokens + want.tokens),
            ("cost", cap.cost_usd, counter.cost_usd + counter.reserved_cost_usd + want.cost_usd),
        ]
        for kind, limit, total in checks:
            if limit is not None and total > limit:
                return UsageLimitExceeded(
                    scope=counter.scope,
                    period=counter.period,
                    kind=kind,
                    limit=limit,
                    resets_at=resets[counter.period],
                )
    # Unreachable unless a cap changed mid-transaction; still name a cap of a refusing scope.
    counter = fresh[0]
    cap = caps[counter.scope, counter.period]
    kind, limit = next(
        (k, v)
        for k, v in (("requests", cap.requests), ("tokens", cap.tokens), ("cost", cap.cost_usd))
        if v is not None
    )
    return UsageLimitExceeded(
        scope=counter.scope,
        period=counter.period,
        kind=kind,
        limit=limit,
        resets_at=resets[counter.period],
    )


async def close(
    connection: BaseDBAsyncClient,
    job_id: int,
    expected: ReservationStatus,
    *,
    to: ReservationStatus,
    at: datetime,
) -> Closed | None:
    """Move the job's reservation from ``expected`` to ``to`` and return it; None if not so."""
    sql = Params.for_connection(connection)
    statement = (
        f"UPDATE usage_reservations SET status = {sql(to.value)}, "  # noqa: S608
        f"closed_at = {sql(at)} WHERE job_id = {sql(job_id)} "
        f"AND status = {sql(expected.value)} "
        "RETURNING counter_ids, requests, tokens, cost_usd"
    )
    rows = await connection.execute_query_dict(statement, sql.values)
    if not rows:
        return None
    row = rows[0]
    return Closed(
        counter_ids=_ids(row["counter_ids"]),
        amount=Amount(
            requests=int(row["requests"]),
            tokens=int(row["tokens"]),
            cost_usd=quantize_cost(row["cost_usd"]),
        ),
    )


def _ids(raw: Any) -> list[int]:
    """A JSON list of ids, as the driver hands it back (text on both dialects when raw SQL)."""
    values = json.loads(raw) if isinstance(raw, str | bytes) else raw
    return [int(v) for v in values]


async def move(
    connection: BaseDBAsyncClient,
    counter_ids: list[int],
    *,
    add: Amount,
    free: Amount,
    at: datetime,
) -> None:
    """Add ``add`` to the used columns and take ``free`` off the reserved ones."""
    ids = sorted(counter_ids)
    if not ids:
        return
    sql = Params.for_connection(connection)
    sets = (
        f"requests = c.requests + {sql(add.requests)}, "
        f"tokens = c.tokens + {sql(add.tokens)}, "
        f"cost_usd = ROUND(c.cost_usd + {sql.money(add.cost_usd)}, 6), "
        f"reserved_requests = c.reserved_requests - {sql(free.requests)}, "
        f"reserved_tokens = c.reserved_tokens - {sql(free.tokens)}, "
        f"reserved_cost_usd = ROUND(c.reserved_cost_usd - {sql.money(free.cost_usd)}, 6), "
        f"updated_at = {sql(at)}"
    )
    await connection.execute_query_dict(update_counters(sql, ids, sets), sql.values)
