"""Warn a scope's admins (and the person, for a user limit) when 80% of a limit is used.

Checked by a frequent scheduler job rather than at settlement: one pass over the current
periods' counters costs the generation path nothing and also catches a limit lowered below what
was already used, which no settlement would see.

Once per (organisation, scope, scope id, period, period key, metric): the ``LimitWarning`` row
with that unique key is inserted in the same transaction as the outbox rows, so the first check
past the threshold sends the warning and every later check (or a second scheduler racing the same
check) hits the unique key and sends nothing. The next period has a new key and warns afresh.

Payload of ``limit_warning``: ``organization``, ``scope`` (organization, workspace or user),
``scope_name``, ``period`` (daily or monthly), ``period_key``, ``metric`` (requests, tokens or
cost), ``used`` and ``limit`` (strings; cost in USD) and ``percent`` (whole percent used).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from core.clock import Clock
from core.presentation import display_name
from core.services.notifications import KIND_LIMIT_WARNING
from core.services.outbox import OutboxService
from core.services.usage import Caps, UsageService
from db.models import (
    LimitWarning,
    Membership,
    Organization,
    Role,
    UsageCounter,
    UsageLimit,
    UsagePeriod,
    UsageScope,
    User,
    Workspace,
)

WARN_AT = Decimal("0.8")
METRICS = ("requests", "tokens", "cost")


@dataclass(frozen=True, slots=True)
class Crossing:
    """One counter past the threshold of one of its caps."""

    counter: UsageCounter
    metric: str
    used: int | Decimal
    limit: int | Decimal


class LimitWarningService:
    def __init__(self, *, usage: UsageService, outbox: OutboxService, clock: Clock) -> None:
        self._usage = usage
        self._outbox = outbox
        self._clock = clock

    async def check(self, at: datetime | None = None) -> dict[str, int]:
        """Warn about every scope past the threshold now; counts of new warnings and rows."""
        at = at or self._clock.now()
        crossings = await self._crossings(at)
        warned = messages = 0
        for crossing in crossings:
            sent = await self._warn_once(crossing)
            if sent is not None:
                warned += 1
                messages += sent
        return {"warnings": warned, "messages": messages}

    async def _crossings(self, at: datetime) -> list[Crossing]:
        current = Q(
            *(
                Q(period=period, period_key=self._usage.period_key(period, at))
                for period in (UsagePeriod.DAILY, UsagePeriod.MONTHLY)
            ),
            join_type="OR",
        )
        counters = await UsageCounter.filter(
            current, organization_id__not_isnull=True, organization__is_active=True
        )
        if not counters:
            return []
        caps = await self._caps([c.organization_id for c in counters])
        crossings = []
        for counter in counters:
            key = (counter.organization_id, counter.scope, counter.scope_id, counter.period)
            cap = caps.get(key) or self._usage.default_caps(counter.scope, counter.period)
            crossings.extend(_past_threshold(counter, cap))
        warned = await _already_warned(crossings)
        return [c for c in crossings if _warning_key(c) not in warned]

    async def _caps(self, organization_ids: list[int]) -> dict[tuple, Caps]:
        rows = await UsageLimit.filter(organization_id__in=sorted(set(organization_ids)))
        return {
            (row.organization_id, row.scope, row.scope_id, row.period): Caps(
                requests=row.requests_limit, tokens=row.tokens_limit, cost_usd=row.cost_limit_usd
            )
            for row in rows
        }

    async def _warn_once(self, crossing: Crossing) -> int | None:
        """Record and send one warning; None when it was already recorded (by anyone)."""
        counter = crossing.counter
        recipients, payload = await _audience(crossing)
        if payload is None:
            return None  # a retired workspace or a former member: nobody to tell
        try:
            async with in_transaction() as conn:
                await LimitWarning.create(
                    using_db=conn,
                    organization_id=counter.organization_id,
                    scope=counter.scope,
                    scope_id=counter.scope_id,
                    period=counter.period,
                    period_key=counter.period_key,
                    metric=crossing.metric,
                    created_at=self._clock.now(),
                )
                return await self._outbox.enqueue(
                    connection=conn, user_ids=recipients, kind=KIND_LIMIT_WARNING, payload=payload
                )
        except IntegrityError:
            return None


def _past_threshold(counter: UsageCounter, cap: Caps) -> list[Crossing]:
    used = {
        "requests": (counter.requests, cap.requests),
        "tokens": (counter.tokens, cap.tokens),
        "cost": (Decimal(str(counter.cost_usd)), cap.cost_usd),
    }
    # A cap of 0 means "none allowed": there is nothing to warn about before it refuses.
    return [
        Crossing(counter, metric, amount, limit)
        for metric, (amount, limit) in used.items()
        if limit is not None and limit > 0 and amount >= WARN_AT * limit
    ]


def _warning_key(crossing: Crossing) -> tuple:
    c = crossing.counter
    return (
        c.organization_id,
        str(c.scope),
        c.scope_id,
        str(c.period),
        c.period_key,
        crossing.metric,
    )


async def _already_warned(crossings: list[Crossing]) -> set[tuple]:
    if not crossings:
        return set()
    organization_ids = sorted({c.counter.organization_id for c in crossings})
    period_keys = sorted({c.counter.period_key for c in crossings})
    rows = await LimitWarning.filter(
        organization_id__in=organization_ids, period_key__in=period_keys
    ).values_list("organization_id", "scope", "scope_id", "period", "period_key", "metric")
    return {(o, str(s), i, str(p), k, m) for o, s, i, p, k, m in rows}


async def _audience(crossing: Crossing) -> tuple[list[int], dict[str, Any] | None]:
    """Who hears of this crossing, and what they are told (None: the scope is gone)."""
    counter = crossing.counter
    organization = await Organization.get(id=counter.organization_id)
    recipients = list(
        await Membership.filter(organization_id=organization.id, role=Role.ADMIN).values_list(
            "user_id", flat=True
        )
    )
    name = await _scope_name(counter)
    if name is None:
        return [], None
    if counter.scope is UsageScope.USER:
        recipients.append(counter.scope_id)
    payload = {
        "organization_id": organization.id,
        "organization": organization.name,
        "scope": counter.scope.value,
        "scope_id": counter.scope_id,
        "scope_name": name,
        "period": counter.period.value,
        "period_key": counter.period_key,
        "metric": crossing.metric,
        "used": str(crossing.used),
        "limit": str(crossing.limit),
        "percent": int(Decimal(str(crossing.used)) * 100 / Decimal(str(crossing.limit))),
    }
    return recipients, payload


async def _scope_name(counter: UsageCounter) -> str | None:
    if counter.scope is UsageScope.ORGANIZATION:
        return ""
    if counter.scope is UsageScope.WORKSPACE:
        workspace = await Workspace.get_or_none(id=counter.scope_id, is_active=True)
        return None if workspace is None else workspace.name
    member = await Membership.filter(
        organization_id=counter.organization_id, user_id=counter.scope_id
    ).exists()
    user = await User.get_or_none(id=counter.scope_id)
    return display_name(user) if member and user is not None else None
