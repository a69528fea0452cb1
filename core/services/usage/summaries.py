"""What a scope used in the current period: totals and a breakdown by model, from the usage log."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

from tortoise.expressions import Q
from tortoise.functions import Count, Sum

from core.errors import NotFound, PermissionDenied
from core.security.principal import Principal
from core.services.permissions import Action, authorize, may
from core.services.usage.periods import PeriodsInConfiguredZone
from core.services.usage.values import ModelTotals, UsageSummary, quantize_cost
from db.models import Membership, Role, UsageLog, UsagePeriod, UsageScope, Workspace


class UsageSummaries(PeriodsInConfiguredZone):
    """The reading half of :class:`~core.services.usage.UsageService`."""

    async def summary(
        self, *, actor: Principal, scope: UsageScope, scope_id: int, period: UsagePeriod
    ) -> UsageSummary:
        """What ``scope`` used in the current ``period``: totals and per model, in one query."""
        where = await _summary_filter(actor, scope, scope_id)
        start, end = self.period_bounds(period)
        rows = (
            # In UTC: SQLite compares stored datetimes as text, so the bounds must share a zone.
            await UsageLog.filter(
                where, created_at__gte=start.astimezone(UTC), created_at__lt=end.astimezone(UTC)
            )
            .annotate(
                n=Count("id"),
                prompt=Sum("prompt_tokens"),
                completion=Sum("completion_tokens"),
                cost=Sum("cost_usd"),
            )
            .group_by("model")
            .order_by("model")
            .values("model", "n", "prompt", "completion", "cost")
        )
        by_model = [
            ModelTotals(
                model=row["model"],
                requests=int(row["n"]),
                total_tokens=int(row["prompt"] or 0) + int(row["completion"] or 0),
                cost_usd=quantize_cost(row["cost"]),
            )
            for row in rows
        ]
        return UsageSummary(
            scope=scope,
            scope_id=scope_id,
            period=period,
            start=start,
            end=end,
            requests=sum(m.requests for m in by_model),
            prompt_tokens=sum(int(row["prompt"] or 0) for row in rows),
            completion_tokens=sum(int(row["completion"] or 0) for row in rows),
            cost_usd=quantize_cost(sum((m.cost_usd for m in by_model), Decimal(0))),
            by_model=by_model,
        )


async def _summary_filter(actor: Principal, scope: UsageScope, scope_id: int) -> Q:
    """The usage-log filter for ``scope``, after the permission and tenant checks."""
    if scope is UsageScope.ORGANIZATION:
        authorize(actor, scope_id, Action.READ_ORGANIZATION_USAGE)
        return Q(organization_id=scope_id)
    if scope is UsageScope.WORKSPACE:
        # A retired workspace is gone for usage too (its limits and its summary).
        workspace = await Workspace.get_or_none(
            id=scope_id, is_active=True, organization__is_active=True
        )
        if workspace is None:
            raise NotFound()
        authorize(actor, workspace.organization_id, Action.READ_ORGANIZATION_USAGE)
        return Q(workspace_id=scope_id)
    if scope_id == actor.user_id:
        return Q(user_id=scope_id)  # one's own usage, in every organisation
    shared = await _shared_organizations(actor, scope_id)
    visible = [o for o, role in shared.items() if may(role, Action.READ_ORGANIZATION_USAGE)]
    if visible:
        # Another member's usage, only inside the organisations where the actor may see it.
        return Q(user_id=scope_id, organization_id__in=visible)
    if shared:
        raise PermissionDenied(action=Action.READ_ORGANIZATION_USAGE.value)
    raise NotFound()


async def _shared_organizations(actor: Principal, user_id: int) -> dict[int, Role]:
    """The actor's role in each active organisation that ``user_id`` also belongs to."""
    theirs = await Membership.filter(
        user_id=user_id, organization_id__in=actor.organization_ids
    ).values_list("organization_id", flat=True)
    return {org: actor.roles[org] for org in sorted(theirs)}
