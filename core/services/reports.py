"""Usage reports of one billing period for one organisation: totals, per workspace, per member.

The admin's ``/usage`` in the bot and the scheduler's period-end report read the same numbers from
the usage log. Lines carry ids and names only (no phone numbers): whoever renders a report decides
how to show a person, and every reader here may see a member's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tortoise.functions import Count, Sum

from core.clock import Clock
from core.security.principal import Principal
from core.services.permissions import Action, authorize
from core.services.usage import period_bounds, period_key, quantize_cost
from core.settings import Settings
from db.models import UsageLog, UsagePeriod, User, Workspace


@dataclass(frozen=True, slots=True)
class UsageLine:
    """What one workspace or member used: ``label`` is its name (None when it has none)."""

    id: int | None
    label: str | None
    requests: int
    tokens: int
    cost_usd: Decimal


@dataclass(frozen=True, slots=True)
class PeriodReport:
    organization_id: int
    period_key: str  # ``2026-11`` or ``1405-09``, as the usage counters key it
    start: datetime
    end: datetime
    requests: int = 0
    tokens: int = 0
    cost_usd: Decimal = Decimal("0.000000")
    by_workspace: list[UsageLine] = field(default_factory=list)
    by_user: list[UsageLine] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.requests == 0


class ReportService:
    """Builds period reports; the billing calendar and zone come from the settings."""

    def __init__(self, *, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock

    def bounds(
        self, at: datetime, period: UsagePeriod = UsagePeriod.MONTHLY
    ) -> tuple[datetime, datetime, str]:
        """[start, end) and key of the ``period`` (the billing month by default) holding ``at``."""
        zone, calendar = self._settings.zone, self._settings.billing_calendar
        start, end = period_bounds(period, at, zone=zone, calendar=calendar)
        return start, end, period_key(period, at, zone=zone, calendar=calendar)

    def period_just_ended(self, at: datetime | None = None) -> tuple[datetime, datetime, str]:
        """The billing period before the one holding ``at`` (default now)."""
        start, _, _ = self.bounds(at or self._clock.now())
        return self.bounds(start - timedelta(microseconds=1))

    async def current(
        self,
        *,
        actor: Principal,
        organization_id: int,
        period: UsagePeriod = UsagePeriod.MONTHLY,
    ) -> PeriodReport:
        """This period's report so far (the billing month, or today with ``DAILY``); for the
        organisation's editors and admins. Members are counted inside this organisation only,
        as their usage limits are."""
        authorize(actor, organization_id, Action.READ_ORGANIZATION_USAGE)
        return await self.build(organization_id, *self.bounds(self._clock.now(), period))

    async def build(
        self, organization_id: int, start: datetime, end: datetime, key: str
    ) -> PeriodReport:
        """The report of [start, end) for the organisation, without a permission check: for
        callers that already decided (the scheduler, or :meth:`current`)."""
        # In UTC: SQLite compares stored datetimes as text, so the bounds must share their zone.
        logs = UsageLog.filter(
            organization_id=organization_id,
            created_at__gte=start.astimezone(UTC),
            created_at__lt=end.astimezone(UTC),
        )
        by_workspace = await _lines(logs, "workspace_id", Workspace, "name")
        by_user = await _lines(logs, "user_id", User, "full_name")
        return PeriodReport(
            organization_id=organization_id,
            period_key=key,
            start=start,
            end=end,
            requests=sum(line.requests for line in by_workspace),
            tokens=sum(line.tokens for line in by_workspace),
            cost_usd=quantize_cost(sum((line.cost_usd for line in by_workspace), Decimal(0))),
            by_workspace=by_workspace,
            by_user=by_user,
        )


async def _lines(logs, key: str, model, name_field: str) -> list[UsageLine]:
    """One line per value of ``key`` (most expensive first), named from ``model``."""
    rows = (
        await logs.annotate(n=Count("id"), tokens=Sum("total_tokens"), cost=Sum("cost_usd"))
        .group_by(key)
        .values(key, "n", "tokens", "cost")
    )
    ids = [row[key] for row in rows if row[key] is not None]
    names = dict(await model.filter(id__in=ids).values_list("id", name_field)) if ids else {}
    lines = [
        UsageLine(
            id=row[key],
            label=names.get(row[key]),
            requests=int(row["n"]),
            tokens=int(row["tokens"] or 0),
            cost_usd=quantize_cost(row["cost"]),
        )
        for row in rows
    ]
    return sorted(lines, key=lambda line: (-line.cost_usd, -line.requests, line.id or 0))
