"""Usage limits, atomic reservations and the usage summary (docs/architecture.md §3, §4).

**Scopes and periods.** Every generation counts in six counters: its organisation, workspace and
user, each daily and monthly. All six are kept even where no limit applies, so a limit added in
the middle of a period starts from what was really used. Periods are computed in
``settings.timezone``; a monthly period follows Gregorian or Solar Hijri months per
``settings.billing_calendar`` (keys ``2026-11`` or ``1405-09``; daily keys are the local
Gregorian date ``2026-11-30`` under both calendars).

**Limits and the merge rule.** A ``UsageLimit`` row per (scope, scope_id, period) holds
``requests_limit``, ``tokens_limit`` and ``cost_limit_usd``; ``None`` means no cap and ``0``
means none allowed. Where no row exists the defaults apply: a workspace's monthly cost is capped at
``DEFAULT_WORKSPACE_MONTHLY_BUDGET_USD`` and a user's at ``DEFAULT_USER_MONTHLY_BUDGET_USD``;
nothing else is capped. A row replaces the defaults of its own scope and period only, and when a
workspace or user *monthly* row is written without naming ``cost_limit_usd`` the default budget
is written into it. So a row that sets only a token cap keeps the default cost budget (the system
this replaces silently dropped it), while an explicit ``null`` still
lifts the cap. A daily row never touches the monthly default.

**User scope.** A user limit and counter belong to the person *in one organisation*: limits are
unique per (organisation, scope, scope id, period) and counters per (organisation, scope, scope
id, period, period key), so what a person spends in one organisation never drains the budget
checked in another, and only the admins of that organisation may set their limit there (the
organisation is named explicitly, 400 ``limit_organization_required`` otherwise). Nobody can
starve a person's use of their own organisation by inviting them elsewhere.

**Reservations.** Before the model is called, :meth:`UsageService.reserve` adds one request and
the worst-case tokens and cost to the *reserved* columns of all six counters in one conditional
``UPDATE`` (each row ``WHERE used + reserved + n <= limit``), inside the caller's transaction: if
any row is refused the caller's transaction rolls back what the others took, and on PostgreSQL
the row locks make N concurrent requests against K remaining let exactly K through, across
processes. Every writer locks counters in id order (``ORDER BY id FOR UPDATE``), so reservations
and settlements never deadlock. Afterwards :meth:`UsageService.settle` moves the reservation to
the used columns with the actual figures and writes the ``UsageLog`` (once per reservation);
:meth:`UsageService.release` returns it when nothing was consumed. The raw SQL (the column
arithmetic Tortoise filters cannot express) is written for both PostgreSQL and SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import product
from typing import Any, Final
from zoneinfo import ZoneInfo

import jdatetime
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

from core.clock import Clock
from core.errors import InvalidInput, LimitExceeded, NotFound, PermissionDenied
from core.i18n import translate
from core.llm.base import Usage
from core.services.common import UNSET, Unset
from core.services.permissions import Action, authorize, may
from core.settings import BillingCalendar, Settings
from core.text.normalize import persian_digits
from db.models import (
    GenerationJob,
    Membership,
    ReservationStatus,
    Role,
    UsageCounter,
    UsageLimit,
    UsageLog,
    UsagePeriod,
    UsageReservation,
    UsageScope,
    User,
    Workspace,
)

COST_QUANTUM = Decimal("0.000001")
MAX_COST_USD = Decimal("99999999.999999")  # what DecimalField(max_digits=14, places=6) holds
PERIODS: Final = (UsagePeriod.DAILY, UsagePeriod.MONTHLY)
SCOPES: Final = (UsageScope.ORGANIZATION, UsageScope.WORKSPACE, UsageScope.USER)


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsageScopes:
    """Who a generation is charged to."""

    organization_id: int
    workspace_id: int
    user_id: int

    def pairs(self) -> list[tuple[UsageScope, int]]:
        """(scope, scope_id) of each of the three scopes, organisation first."""
        return [
            (UsageScope.ORGANIZATION, self.organization_id),
            (UsageScope.WORKSPACE, self.workspace_id),
            (UsageScope.USER, self.user_id),
        ]


@dataclass(frozen=True, slots=True)
class Caps:
    """The caps of one scope and period; ``None`` is no cap."""

    requests: int | None = None
    tokens: int | None = None
    cost_usd: Decimal | None = None

    @property
    def any(self) -> bool:
        """Whether anything is capped."""
        return not (self.requests is None and self.tokens is None and self.cost_usd is None)


@dataclass(frozen=True, slots=True)
class Amount:
    """Requests, tokens and cost taken together (a reservation, or what was used)."""

    requests: int
    tokens: int
    cost_usd: Decimal


@dataclass(frozen=True, slots=True)
class ModelTotals:
    """One row of a summary's per-model breakdown."""

    model: str
    requests: int
    total_tokens: int
    cost_usd: Decimal


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """What a scope used in one period, with the breakdown by model."""

    scope: UsageScope
    scope_id: int
    period: UsagePeriod
    start: datetime
    end: datetime
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal("0.000000")
    by_model: list[ModelTotals] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


class UsageLimitExceeded(LimitExceeded):
    """A reservation refused by one scope's cap; the message names the scope and the limit."""

    def __init__(
        self, *, scope: UsageScope, period: UsagePeriod, kind: str, limit: int | Decimal
    ) -> None:
        # Params reach the JSON error envelope: plain strings and ints only.
        shown = format_money(limit) if isinstance(limit, Decimal) else limit
        super().__init__(
            "usage_limit_exceeded", scope=str(scope), period=str(period), kind=kind, limit=shown
        )

    def message(self, language: str = "en") -> str:
        """E.g. "Usage limit reached: the workspace's monthly cost limit ($100.00)"."""
        p = self.params
        shown = _display_number(p["limit"], money=p["kind"] == "cost")
        amount = translate(language, f"usage.amount.{p['kind']}", amount=shown)
        return translate(
            language,
            "usage.limit_exceeded",
            scope=translate(language, f"usage.scope.{p['scope']}"),
            period=translate(language, f"usage.period.{p['period']}"),
            kind=translate(language, f"usage.kind.{p['kind']}"),
            limit=localized_digits(amount, language),
        )


# --- periods --------------------------------------------------------------------------------


def period_bounds(
    period: UsagePeriod, at: datetime, *, zone: ZoneInfo, calendar: BillingCalendar
) -> tuple[datetime, datetime]:
    """[start, end) of the period holding ``at``, as aware datetimes in ``zone``."""
    local = at.astimezone(zone).date()
    if period is UsagePeriod.DAILY:
        first, following = local, local + timedelta(days=1)
    elif calendar is BillingCalendar.JALALI:
        j = jdatetime.date.fromgregorian(date=local)
        next_year, next_month = (j.year + 1, 1) if j.month == 12 else (j.year, j.month + 1)
        first = jdatetime.date(j.year, j.month, 1).togregorian()
        following = jdatetime.date(next_year, next_month, 1).togregorian()
    else:
        next_year, next_month = (
            (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        )
        first, following = local.replace(day=1), date(next_year, next_month, 1)
    return _local_midnight(first, zone), _local_midnight(following, zone)


def period_key(
    period: UsagePeriod, at: datetime, *, zone: ZoneInfo, calendar: BillingCalendar
) -> str:
    """The counter key of the period holding ``at``: ``2026-11-30``, ``2026-11`` or ``1405-09``."""
    local = at.astimezone(zone).date()
    if period is UsagePeriod.DAILY:
        return local.isoformat()
    if calendar is BillingCalendar.JALALI:
        j = jdatetime.date.fromgregorian(date=local)
        return f"{j.year:04d}-{j.month:02d}"
    return f"{local.year:04d}-{local.month:02d}"


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


# --- formatting -----------------------------------------------------------------------------

# Digits plus the Persian decimal (U+066B) and thousands (U+066C) separators.
# Arabic decimal and thousands separators go with the Persian digits.
_PERSIAN_SEPARATORS = str.maketrans(".,", "\u066b\u066c")


def format_money(value: Decimal) -> str:
    """A cost as the API shows it: a decimal string with six places."""
    return str(quantize_cost(value))


def quantize_cost(value: Decimal | float | int | str | None) -> Decimal:
    """``value`` in USD rounded half-up to six places (``None`` is zero)."""
    if value is None:
        return Decimal(0).quantize(COST_QUANTUM)
    # str() first: SQLite hands SUM()s back as floats.
    return Decimal(str(value)).quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


def _display_number(value: int | str, *, money: bool) -> str:
    """``1,000`` or ``100.00`` / ``0.00045``: no noise zeros in a sentence."""
    number = Decimal(str(value))
    if not money:
        return f"{number:,}"
    cents = number.quantize(Decimal("0.01"))
    return f"{cents:,}" if cents == number else f"{number.normalize():,f}"


def localized_digits(text: str, language: str) -> str:
    """``text`` (a short amount) with Persian digits and separators when ``language`` is fa."""
    return persian_digits(text).translate(_PERSIAN_SEPARATORS) if language == "fa" else text


# --- the service ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CounterKey:
    organization_id: int
    scope: UsageScope
    scope_id: int
    period: UsagePeriod
    period_key: str


class UsageService:
    """Limits, reservations, settlement and summaries; one instance per process."""

    def __init__(self, *, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock

    # periods

    def period_bounds(
        self, period: UsagePeriod, at: datetime | None = None
    ) -> tuple[datetime, datetime]:
        """[start, end) of the period holding ``at`` (default now) in the configured zone."""
        return period_bounds(
            period,
            at or self._clock.now(),
            zone=self._settings.zone,
            calendar=self._settings.billing_calendar,
        )

    def period_key(self, period: UsagePeriod, at: datetime | None = None) -> str:
        """The counter key of the period holding ``at`` (default now)."""
        return period_key(
            period,
            at or self._clock.now(),
            zone=self._settings.zone,
            calendar=self._settings.billing_calendar,
        )

    # limits

    def default_caps(self, scope: UsageScope, period: UsagePeriod) -> Caps:
        """The caps that apply where no limit row exists."""
        if period is UsagePeriod.MONTHLY and scope is UsageScope.WORKSPACE:
            return Caps(cost_usd=self._settings.default_workspace_monthly_budget_usd)
        if period is UsagePeriod.MONTHLY and scope is UsageScope.USER:
            return Caps(cost_usd=self._settings.default_user_monthly_budget_usd)
        return Caps()

    async def effective_caps(
        self, scopes: UsageScopes, *, connection: BaseDBAsyncClient | None = None
    ) -> dict[tuple[UsageScope, UsagePeriod], Caps]:
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
        self, *, actor: User, organization_id: int | None = None, offset: int = 0, limit: int = 20
    ) -> tuple[int, list[UsageLimit]]:
        """(count, page) of the limit rows written by organisations the actor administers."""
        if organization_id is not None:
            await authorize(actor, organization_id, Action.MANAGE_LIMITS)
            org_ids = [organization_id]
        else:
            org_ids = await _organizations_where(actor, Action.MANAGE_LIMITS)
            if not org_ids:
                raise PermissionDenied(action=Action.MANAGE_LIMITS.value)
        query = UsageLimit.filter(organization_id__in=org_ids)
        # A retired workspace's limits went with it.
        retired = await Workspace.filter(organization_id__in=org_ids, is_active=False).values_list(
            "id", flat=True
        )
        if retired:
            query = query.exclude(scope=UsageScope.WORKSPACE, scope_id__in=retired)
        count = await query.count()
        rows = (
            await query.order_by("organization_id", "scope", "scope_id", "period")
            .offset(offset)
            .limit(limit)
        )
        return count, rows

    async def set_limit(
        self,
        *,
        actor: User,
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
        self, actor: User, scope: UsageScope, scope_id: int, named: int | None
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
            await authorize(actor, named, Action.MANAGE_LIMITS)
            if not await Membership.exists(organization_id=named, user_id=scope_id):
                raise NotFound()  # not a member there: like any id of another tenant
            return named
        await authorize(actor, owner, Action.MANAGE_LIMITS)
        if named is not None and named != owner:
            raise InvalidInput("limit_organization_mismatch", field="organization_id")
        return owner

    # reservations

    async def check_room(self, scopes: UsageScopes, *, at: datetime | None = None) -> None:
        """Refuse early (:class:`UsageLimitExceeded`) when a scope has no room for one more call.

        Read-only and lock-free, for the generation service to call before it renders or
        estimates anything: a person at their limit costs the server nothing. Room for one
        request, one token and more than nothing in cost is all it asks; :meth:`reserve` stays
        the authority with the real figures.
        """
        at = at or self._clock.now()
        caps = await self.effective_caps(scopes)
        keys = {
            (scope, period): self.period_key(period, at)
            for scope, _ in scopes.pairs()
            for period in PERIODS
        }
        ids = dict(scopes.pairs())
        condition = Q(
            *(
                Q(scope=scope, scope_id=ids[scope], period=period, period_key=key)
                for (scope, period), key in keys.items()
            ),
            join_type="OR",
        )
        counters = {(c.scope, c.period): c for c in await UsageCounter.filter(condition)}
        for scope, period in product(SCOPES, PERIODS):
            cap, counter = caps[scope, period], counters.get((scope, period))
            if not cap.any:
                continue
            taken = (
                Amount(0, 0, Decimal(0))
                if counter is None
                else Amount(
                    counter.requests + counter.reserved_requests,
                    counter.tokens + counter.reserved_tokens,
                    counter.cost_usd + counter.reserved_cost_usd,
                )
            )
            full: list[tuple[str, int | Decimal | None]] = [
                ("requests", cap.requests if taken.requests + 1 > (cap.requests or 0) else None),
                ("tokens", cap.tokens if taken.tokens + 1 > (cap.tokens or 0) else None),
                ("cost", cap.cost_usd if taken.cost_usd >= (cap.cost_usd or 0) else None),
            ]
            for kind, limit in full:
                if limit is not None:
                    raise UsageLimitExceeded(scope=scope, period=period, kind=kind, limit=limit)

    async def reserve(
        self,
        *,
        connection: BaseDBAsyncClient,
        job_id: int,
        scopes: UsageScopes,
        tokens: int,
        cost_usd: Decimal,
        at: datetime | None = None,
    ) -> UsageReservation:
        """Hold one request plus ``tokens`` and ``cost_usd`` in every scope, or refuse.

        Runs on ``connection``, which must be a transaction: a :class:`UsageLimitExceeded`
        raised here rolls back what the other scopes already took.
        """
        at = at or self._clock.now()
        want = Amount(requests=1, tokens=tokens, cost_usd=quantize_cost(cost_usd))
        caps = await self.effective_caps(scopes, connection=connection)
        keys = [
            _CounterKey(
                scopes.organization_id, scope, scope_id, period, self.period_key(period, at)
            )
            for scope, scope_id in scopes.pairs()
            for period in PERIODS
        ]
        counters = await _ensure_counters(connection, keys, at)
        reservation = await UsageReservation.create(
            using_db=connection,
            job_id=job_id,
            requests=want.requests,
            tokens=want.tokens,
            cost_usd=want.cost_usd,
            counter_ids=sorted(c.id for c in counters),
            status=ReservationStatus.HELD,
        )
        # The contended row locks come last, so they are held only until the caller commits.
        held = await _hold(connection, counters, caps, want, at)
        if len(held) < len(counters):
            raise await _refusal(connection, [c for c in counters if c.id not in held], caps, want)
        return reservation

    async def settle(
        self,
        *,
        connection: BaseDBAsyncClient,
        job: GenerationJob,
        model: str,
        usage: Usage,
        cost_usd: Decimal,
        success: bool,
        error: str | None = None,
        duration_ms: int | None = None,
        at: datetime | None = None,
    ) -> UsageLog | None:
        """Charge what a call consumed: reserved -> used in its counters, plus a usage log.

        ``at`` is when the usage is logged; pass the reservation's time so the log and the
        counters agree on the period. A reservation that was already released (the job was
        reaped while its call went on) still gets the usage added, so nothing is lost. Each
        reservation is charged at most once: None (and nothing written) when already settled.
        """
        now = self._clock.now()
        at = at or now
        used = Amount(requests=1, tokens=usage.total_tokens, cost_usd=quantize_cost(cost_usd))
        closed = await _close(connection, job.id, ReservationStatus.HELD, to=_SETTLED, at=now)
        free = _NOTHING if closed is None else closed.amount
        if closed is None:
            # Released when its job was reaped while the call went on: what it held is back.
            closed = await _close(
                connection, job.id, ReservationStatus.RELEASED, to=_SETTLED, at=now
            )
            if closed is None:
                return None  # already settled: a reservation is charged once
        log = await UsageLog.create(
            using_db=connection,
            organization_id=job.organization_id,
            workspace_id=job.workspace_id,
            user_id=job.user_id,
            content_id=job.content_id,
            job_id=job.id,
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
            cost_usd=used.cost_usd,
            success=success,
            error=error,
            duration_ms=duration_ms,
            created_at=at,
        )
        # The contended counters last, so their row locks are held the shortest time.
        await _move(connection, closed.counter_ids, add=used, free=free, at=now)
        return log

    async def release(self, *, connection: BaseDBAsyncClient, job_id: int) -> bool:
        """Give back what a job holds because nothing was consumed; False if already closed."""
        at = self._clock.now()
        closed = await _close(
            connection, job_id, ReservationStatus.HELD, to=ReservationStatus.RELEASED, at=at
        )
        if closed is None:
            return False
        await _move(connection, closed.counter_ids, add=_NOTHING, free=closed.amount, at=at)
        return True

    # reading

    async def summary(
        self, *, actor: User, scope: UsageScope, scope_id: int, period: UsagePeriod
    ) -> UsageSummary:
        """What ``scope`` used in the current ``period``: totals and per model, in one query."""
        where = await self._summary_filter(actor, scope, scope_id)
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

    async def _summary_filter(self, actor: User, scope: UsageScope, scope_id: int) -> Q:
        """The usage-log filter for ``scope``, after the permission and tenant checks."""
        if scope is UsageScope.ORGANIZATION:
            await authorize(actor, scope_id, Action.READ_ORGANIZATION_USAGE)
            return Q(organization_id=scope_id)
        if scope is UsageScope.WORKSPACE:
            # A retired workspace is gone for usage too (its limits and its summary).
            workspace = await Workspace.get_or_none(
                id=scope_id, is_active=True, organization__is_active=True
            )
            if workspace is None:
                raise NotFound()
            await authorize(actor, workspace.organization_id, Action.READ_ORGANIZATION_USAGE)
            return Q(workspace_id=scope_id)
        if scope_id == actor.id:
            if not actor.is_active:
                raise NotFound()
            return Q(user_id=scope_id)  # one's own usage, in every organisation
        shared = await _shared_organizations(actor, scope_id)
        visible = [o for o, role in shared.items() if may(role, Action.READ_ORGANIZATION_USAGE)]
        if visible:
            # Another member's usage, only inside the organisations where the actor may see it.
            return Q(user_id=scope_id, organization_id__in=visible)
        if shared:
            raise PermissionDenied(action=Action.READ_ORGANIZATION_USAGE.value)
        raise NotFound()


# --- helpers --------------------------------------------------------------------------------


def _id(counter: UsageCounter) -> int:
    return counter.id


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


async def _organizations_where(actor: User, action: Action) -> list[int]:
    """Active organisations where the actor's role allows ``action``."""
    if not actor.is_active:
        return []
    rows = await Membership.filter(user_id=actor.id, organization__is_active=True).values_list(
        "organization_id", "role"
    )
    return [org for org, role in rows if may(Role(role), action)]


async def _shared_organizations(actor: User, user_id: int) -> dict[int, Role]:
    """The actor's role in each active organisation that ``user_id`` also belongs to."""
    if not actor.is_active:
        return {}
    theirs = Membership.filter(user_id=user_id).values_list("organization_id", flat=True)
    rows = await Membership.filter(
        user_id=actor.id, organization__is_active=True, organization_id__in=await theirs
    ).values_list("organization_id", "role")
    return {org: Role(role) for org, role in rows}


class _Sql:
    """Collects parameters and writes each dialect's placeholder ($n or ?)."""

    def __init__(self, connection: BaseDBAsyncClient) -> None:
        self.numbered = connection.capabilities.dialect == "postgres"
        self.params: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}" if self.numbered else "?"

    def money(self, value: Decimal) -> str:
        """A Decimal parameter that compares as a number on both dialects."""
        # SQLite binds Decimal as TEXT (Tortoise registers str as its adapter), and any number
        # compares below any TEXT there: without the cast every cost cap would pass.
        return self(value) if self.numbered else f"CAST({self(value)} AS REAL)"


_COUNTER_COLUMNS = (
    "organization_id, scope, scope_id, period, period_key, requests, tokens, cost_usd, "
    "reserved_requests, reserved_tokens, reserved_cost_usd, updated_at"
)
_NOTHING = Amount(0, 0, Decimal(0))
_SETTLED = ReservationStatus.SETTLED


@dataclass(frozen=True, slots=True)
class _Closed:
    """What a reservation held, as it was closed."""

    counter_ids: list[int]
    amount: Amount


async def _ensure_counters(
    connection: BaseDBAsyncClient, keys: list[_CounterKey], at: datetime
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
            _CounterKey(c.organization_id, c.scope, c.scope_id, c.period, c.period_key)
            for c in found
        }
        missing = sorted(
            (k for k in keys if k not in have),
            key=lambda k: (k.scope.value, k.scope_id, k.period.value, k.period_key),
        )
        sql = _Sql(connection)
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
            sql.params,
        )
        found = await UsageCounter.filter(condition).using_db(connection)
    return sorted(found, key=_id)


async def _hold(
    connection: BaseDBAsyncClient,
    counters: list[UsageCounter],
    caps: dict[tuple[UsageScope, UsagePeriod], Caps],
    want: Amount,
    at: datetime,
) -> set[int]:
    """Add ``want`` to the reserved columns of each counter whose caps allow it; their ids."""
    sql = _Sql(connection)
    sets = (
        f"reserved_requests = c.reserved_requests + {sql(want.requests)}, "
        f"reserved_tokens = c.reserved_tokens + {sql(want.tokens)}, "
        f"reserved_cost_usd = ROUND(c.reserved_cost_usd + {sql.money(want.cost_usd)}, 6), "
        f"updated_at = {sql(at)}"
    )

    def condition() -> str:
        # Built after the id list: SQLite's "?" placeholders are positional.
        cases = [
            f"WHEN {sql(c.id)} THEN ({_fits(sql, want, caps[c.scope, c.period])})"
            for c in counters
            if caps[c.scope, c.period].any
        ]
        return f"CASE c.id {' '.join(cases)} ELSE TRUE END" if cases else "TRUE"

    statement = _update_counters(sql, [c.id for c in counters], sets, condition)
    rows = await connection.execute_query_dict(statement, sql.params)
    return {row["id"] for row in rows}


def _fits(sql: _Sql, want: Amount, cap: Caps) -> str:
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


def _update_counters(
    sql: _Sql, ids: list[int], sets: str, condition: Callable[[], str] | None = None
) -> str:
    """One UPDATE of the counters ``ids`` (alias ``c``) returning the ids it changed.

    On PostgreSQL the rows are locked first in id order (``ORDER BY id FOR UPDATE``): every
    writer locks counters in the same order, so concurrent reservations and settlements queue
    instead of deadlocking. SQLite runs one transaction at a time and needs no lock.
    """
    id_list = ", ".join(sql(i) for i in ids)
    where = condition() if condition is not None else "TRUE"
    if sql.numbered:
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


async def _refusal(
    connection: BaseDBAsyncClient,
    refused: list[UsageCounter],
    caps: dict[tuple[UsageScope, UsagePeriod], Caps],
    want: Amount,
) -> UsageLimitExceeded:
    """The error naming a cap that refused ``want`` (in organisation-to-user, daily-first order)."""
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
                    scope=counter.scope, period=counter.period, kind=kind, limit=limit
                )
    # Unreachable unless a cap changed mid-transaction; still name a cap of a refusing scope.
    counter = fresh[0]
    cap = caps[counter.scope, counter.period]
    kind, limit = next(
        (k, v)
        for k, v in (("requests", cap.requests), ("tokens", cap.tokens), ("cost", cap.cost_usd))
        if v is not None
    )
    return UsageLimitExceeded(scope=counter.scope, period=counter.period, kind=kind, limit=limit)


async def _close(
    connection: BaseDBAsyncClient,
    job_id: int,
    expected: ReservationStatus,
    *,
    to: ReservationStatus,
    at: datetime,
) -> _Closed | None:
    """Move the job's reservation from ``expected`` to ``to`` and return it; None if not so."""
    sql = _Sql(connection)
    statement = (
        f"UPDATE usage_reservations SET status = {sql(to.value)}, "  # noqa: S608
        f"closed_at = {sql(at)} WHERE job_id = {sql(job_id)} "
        f"AND status = {sql(expected.value)} "
        "RETURNING counter_ids, requests, tokens, cost_usd"
    )
    rows = await connection.execute_query_dict(statement, sql.params)
    if not rows:
        return None
    row = rows[0]
    return _Closed(
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


async def _move(
    connection: BaseDBAsyncClient,
    counter_ids: Iterable[int],
    *,
    add: Amount,
    free: Amount,
    at: datetime,
) -> None:
    """Add ``add`` to the used columns and take ``free`` off the reserved ones."""
    ids = sorted(counter_ids)
    if not ids:
        return
    sql = _Sql(connection)
    sets = (
        f"requests = c.requests + {sql(add.requests)}, "
        f"tokens = c.tokens + {sql(add.tokens)}, "
        f"cost_usd = ROUND(c.cost_usd + {sql.money(add.cost_usd)}, 6), "
        f"reserved_requests = c.reserved_requests - {sql(free.requests)}, "
        f"reserved_tokens = c.reserved_tokens - {sql(free.tokens)}, "
        f"reserved_cost_usd = ROUND(c.reserved_cost_usd - {sql.money(free.cost_usd)}, 6), "
        f"updated_at = {sql(at)}"
    )
    await connection.execute_query_dict(_update_counters(sql, ids, sets), sql.params)
