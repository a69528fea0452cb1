"""Usage limits: the defaults, the merge rule, and the admins' limit rows (list and set).

A ``UsageLimit`` row per (organisation, scope, scope_id, period) holds ``requests_limit``,
``tokens_limit`` and ``cost_limit_usd``; ``None`` means no cap and ``0`` means none allowed. Where
no row exists the defaults apply: a workspace's monthly cost is capped at
``DEFAULT_WORKSPACE_MONTHLY_BUDGET_USD`` and a user's at ``DEFAULT_USER_MONTHLY_BUDGET_USD``;
nothing else is capped. A row replaces the defaults of its own scope and period only, and when a
workspace or user *monthly* row is written without naming ``cost_limit_usd`` the default budget
is written into it. So a row that sets only a token cap keeps the default cost budget (the system
this replaces silently dropped it), while an explicit ``null`` still lifts the cap. A daily row
never touches the monthly default.

**User scope.** A user limit belongs to the person *in one organisation*: limits are unique per
(organisation, scope, scope id, period), so what a person spends in one organisation never drains
the budget checked in another, and only the admins of that organisation may set their limit there
(the organisation is named explicitly, 400 ``limit_organization_required`` otherwise). Nobody can
starve a person's use of their own organisation by inviting them elsewhere.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from core.clock import Clock
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.security.principal import Principal
from core.services.common import UNSET, Listing, Unset, fetch_listing
from core.services.permissions import Action, authorize, may
from core.services.usage.counters import CapsByScope
from core.services.usage.values import MAX_COST_USD, PERIODS, Caps, UsageScopes, quantize_cost
from core.settings import Settings
from db.models import Membership, UsageLimit, UsagePeriod, UsageScope, Workspace


class UsageLimits:
    """The limit half of :class:`~core.services.usage.UsageService`."""

    _settings: Settings
    _clock: Clock

    def default_caps(self, scope: UsageScope, period: UsagePeriod) -> Caps:
        """The caps that apply where no limit row exists."""
        if period is UsagePeriod.MONTHLY and scope is UsageScope.WORKSPACE:
            return Caps(cost_usd=self._settings.default_workspace_monthly_budget_usd)
        if period is UsagePeriod.MONTHLY and scope is UsageScope.USER:
            return Caps(cost_usd=self._settings.default_user_monthly_budget_usd)
        return Caps()

    async def effective_caps(
        self, scopes: UsageScopes, *, connection: BaseDBAsyncClient | None = None
    ) -> CapsByScope:
        """The caps of each (scope, period) of ``scopes``: its row, else the defaults."""
        # Q(*…, join_type="OR"): OR-ing onto an empty Q() would match every row.
        condition = Q(*(Q(scope=s, scope_id=i) for s, i in scopes.pairs()), join_type="OR")
        # Only the charged organisation's rows: another organisation's limit on this user is
        # theirs alone.
        query = UsageLimit.filter(condition, organization_id=scopes.organization_id)
        rows = await (query if connection is None else query.using_db(connection))
        by_key = {(row.scope, row.period): row for row in rows}
        caps = {}
        for scope, _ in scopes.pairs():
            for period in PERIODS:
                row = by_key.get((scope, period))
                caps[scope, period] = (
                    self.default_caps(scope, period) if row is None else _caps_of(row)
                )
        return caps

    async def list_limits(
        self,
        *,
        actor: Principal,
        organization_id: int | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> Listing[UsageLimit]:
        """One page of the limit rows written by organisations the actor administers."""
        if organization_id is not None:
            authorize(actor, organization_id, Action.MANAGE_LIMITS)
            org_ids = [organization_id]
        else:
            org_ids = _organizations_where(actor, Action.MANAGE_LIMITS)
            if not org_ids:
                raise PermissionDenied(action=Action.MANAGE_LIMITS.value)
        query = UsageLimit.filter(organization_id__in=org_ids)
        # A retired workspace's limits went with it.
        retired = await Workspace.filter(organization_id__in=org_ids, is_active=False).values_list(
            "id", flat=True
        )
        if retired:
            query = query.exclude(scope=UsageScope.WORKSPACE, scope_id__in=retired)
        order = ("organization_id", "scope", "scope_id", "period")
        return await fetch_listing(query, offset=offset, limit=limit, order_by=order)

    async def set_limit(
        self,
        *,
        actor: Principal,
        scope: UsageScope,
        scope_id: int,
        period: UsagePeriod,
        requests_limit: int | None = None,
        tokens_limit: int | None = None,
        cost_limit_usd: Decimal | Unset | None = UNSET,
        organization_id: int | None = None,
    ) -> UsageLimit:
        """Create or replace the limit of one scope and period (admins of its organisation).

        A user limit applies inside one organisation, which must be named: 400
        ``limit_organization_required`` without it. Naming another organisation than a
        workspace's or organisation's own is ``limit_organization_mismatch``; a user who is not
        a member of the named organisation is ``NotFound``.
        """
        organization_id = await self._organization_to_limit(actor, scope, scope_id, organization_id)
        if cost_limit_usd is UNSET:
            # The merge rule: a monthly row that does not name a cost keeps the default budget.
            cost_limit_usd = self.default_caps(scope, period).cost_usd
        _check_caps(requests_limit, tokens_limit, cost_limit_usd)
        values: dict[str, Any] = {
            "requests_limit": requests_limit,
            "tokens_limit": tokens_limit,
            "cost_limit_usd": None if cost_limit_usd is None else quantize_cost(cost_limit_usd),
        }
        key = {
            "organization_id": organization_id,
            "scope": scope,
            "scope_id": scope_id,
            "period": period,
        }
        # Update first, create when absent, and on a concurrent create update the winner's row:
        # the unique (organization, scope, scope_id, period) makes this upsert race-free.
        if not await UsageLimit.filter(**key).update(**values, updated_at=self._clock.now()):
            try:
                async with in_transaction() as connection:
                    return await UsageLimit.create(using_db=connection, **key, **values)
            except IntegrityError:
                await UsageLimit.filter(**key).update(**values, updated_at=self._clock.now())
        return await UsageLimit.get(**key)

    async def _organization_to_limit(
        self, actor: Principal, scope: UsageScope, scope_id: int, named: int | None
    ) -> int:
        """The organisation whose admin ``actor`` must be to limit this scope; 404 if foreign."""
        if scope is UsageScope.ORGANIZATION:
            owner = scope_id
        elif scope is UsageScope.WORKSPACE:
            # A retired workspace is gone for usage too (its limits and its summary).
            workspace = await Workspace.get_or_none(
                id=scope_id, is_active=True, organization__is_active=True
            )
            if workspace is None:
                raise NotFound()
            owner = workspace.organization_id
        else:
            if named is None:
                raise InvalidInput("limit_organization_required", field="organization_id")
            authorize(actor, named, Action.MANAGE_LIMITS)
            if not await Membership.exists(organization_id=named, user_id=scope_id):
                raise NotFound()  # not a member there: like any id of another tenant
            return named
        authorize(actor, owner, Action.MANAGE_LIMITS)
        if named is not None and named != owner:
            raise InvalidInput("limit_organization_mismatch", field="organization_id")
        return owner


def _caps_of(row: UsageLimit) -> Caps:
    return Caps(requests=row.requests_limit, tokens=row.tokens_limit, cost_usd=row.cost_limit_usd)


def _check_caps(
    requests_limit: int | None, tokens_limit: int | None, cost_limit_usd: Decimal | None
) -> None:
    for name, value, most in (
        ("requests_limit", requests_limit, 2**31 - 1),  # INTEGER column
        ("tokens_limit", tokens_limit, 2**62),  # BIGINT, with room for what is added
    ):
        if value is not None and not 0 <= value <= most:
            raise InvalidInput("invalid_limit", field=name)
    if cost_limit_usd is not None and (
        not cost_limit_usd.is_finite() or not 0 <= cost_limit_usd <= MAX_COST_USD
    ):
        raise InvalidInput("invalid_limit", field="cost_limit_usd")


def _organizations_where(actor: Principal, action: Action) -> list[int]:
    """Active organisations where the actor's role allows ``action``."""
    return [org for org, role in sorted(actor.roles.items()) if may(role, action)]
