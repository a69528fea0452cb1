"""The usage service: periods, caps and defaults, atomic reservations, settlement, summaries."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from tortoise.transactions import in_transaction

from core.clock import FrozenClock
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.llm.base import Usage
from core.presentation import error_message
from core.services.usage import (
    Caps,
    UsageLimitExceeded,
    UsageScopes,
    UsageService,
    period_bounds,
    period_key,
)
from core.settings import BillingCalendar, Settings
from db.models import (
    Content,
    GenerationJob,
    GenerationKind,
    Organization,
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
from tests.support.factories import (
    add_member,
    make_content,
    make_org,
    make_project,
    make_workspace,
    org_with_roles,
    principal_for,
)

pytestmark = pytest.mark.sqlite

TEHRAN = Settings(_env_file=None).zone
# 2026-11-30 23:59:59 in Tehran (+03:30) and the next second, which is the next day there.
BEFORE_TEHRAN_MIDNIGHT = datetime(2026, 11, 30, 20, 29, 59, tzinfo=UTC)
AT_TEHRAN_MIDNIGHT = datetime(2026, 11, 30, 20, 30, 0, tzinfo=UTC)
# 1 Azar 1405 is 2026-11-22; its first instant in Tehran is 2026-11-21 20:30 UTC.
AZAR_1405_START = datetime(2026, 11, 21, 20, 30, 0, tzinfo=UTC)


@dataclass
class World:
    org: Organization
    roles: dict[Role, User]
    workspace: Workspace
    content: Content
    writer: User

    @property
    def admin(self) -> User:
        return self.roles[Role.ADMIN]

    @property
    def scopes(self) -> UsageScopes:
        return UsageScopes(
            organization_id=self.org.id, workspace_id=self.workspace.id, user_id=self.writer.id
        )


@pytest.fixture
async def world(db: str) -> World:
    org, roles = await org_with_roles()
    workspace = await make_workspace(org)
    project = await make_project(workspace)
    writer = roles[Role.WRITER]
    content = await make_content(project, writer)
    return World(org=org, roles=roles, workspace=workspace, content=content, writer=writer)


@pytest.fixture
def tehran(settings: Settings) -> Settings:
    """The test settings with TIMEZONE spelled out.

    Tortoise.init writes TIMEZONE=UTC into os.environ, which the settings fixture (built after
    the database) would otherwise pick up.
    """
    return settings.model_copy(update={"timezone": "Asia/Tehran"})


@pytest.fixture
def usage(tehran: Settings, clock: FrozenClock) -> UsageService:
    return UsageService(settings=tehran, clock=clock)


async def new_job(world: World, *, user: User | None = None) -> GenerationJob:
    return await GenerationJob.create(
        organization=world.org,
        workspace=world.workspace,
        content=world.content,
        user=user or world.writer,
        kind=GenerationKind.DRAFT,
        model="gpt-4o-mini",
    )


async def reserve(
    usage: UsageService,
    world: World,
    *,
    tokens: int = 100,
    cost: str = "0.01",
    scopes: UsageScopes | None = None,
) -> GenerationJob:
    """A job with a reservation, committed; raises UsageLimitExceeded (and keeps no job)."""
    async with in_transaction() as conn:
        job = await GenerationJob.create(
            using_db=conn,
            organization_id=world.org.id,
            workspace_id=world.workspace.id,
            content_id=world.content.id,
            user_id=(scopes or world.scopes).user_id,
            kind=GenerationKind.DRAFT,
            model="gpt-4o-mini",
        )
        await usage.reserve(
            connection=conn,
            job_id=job.id,
            scopes=scopes or world.scopes,
            tokens=tokens,
            cost_usd=Decimal(cost),
        )
    return job


async def counter(scope: UsageScope, scope_id: int, period: UsagePeriod) -> UsageCounter:
    return await UsageCounter.get(scope=scope, scope_id=scope_id, period=period)


async def limit(scope: UsageScope, scope_id: int, period: UsagePeriod, **caps) -> None:
    org_id = caps.pop("organization_id")
    await UsageLimit.create(
        organization_id=org_id, scope=scope, scope_id=scope_id, period=period, **caps
    )


# --- periods ---------------------------------------------------------------------------------


def test_daily_period_turns_over_at_tehran_midnight_not_utc() -> None:
    gregorian = BillingCalendar.GREGORIAN
    before = period_key(UsagePeriod.DAILY, BEFORE_TEHRAN_MIDNIGHT, zone=TEHRAN, calendar=gregorian)
    after = period_key(UsagePeriod.DAILY, AT_TEHRAN_MIDNIGHT, zone=TEHRAN, calendar=gregorian)

    assert (before, after) == ("2026-11-30", "2026-12-01")
    start, end = period_bounds(
        UsagePeriod.DAILY, AT_TEHRAN_MIDNIGHT, zone=TEHRAN, calendar=gregorian
    )
    assert start == AT_TEHRAN_MIDNIGHT
    assert end.isoformat() == "2026-12-02T00:00:00+03:30"


def test_monthly_periods_follow_the_configured_calendar() -> None:
    at = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    gregorian = period_bounds(
        UsagePeriod.MONTHLY, at, zone=TEHRAN, calendar=BillingCalendar.GREGORIAN
    )
    jalali = period_bounds(UsagePeriod.MONTHLY, at, zone=TEHRAN, calendar=BillingCalendar.JALALI)

    assert [d.isoformat() for d in gregorian] == [
        "2026-11-01T00:00:00+03:30",
        "2026-12-01T00:00:00+03:30",
    ]
    # Azar 1405: 2026-11-22 .. 2026-12-22 (exclusive).
    assert [d.isoformat() for d in jalali] == [
        "2026-11-22T00:00:00+03:30",
        "2026-12-22T00:00:00+03:30",
    ]
    assert period_key(UsagePeriod.MONTHLY, at, zone=TEHRAN, calendar=BillingCalendar.JALALI) == (
        "1405-09"
    )


def test_solar_hijri_month_starts_at_tehran_midnight_of_its_first_day() -> None:
    jalali = BillingCalendar.JALALI
    last_second_of_aban = datetime(2026, 11, 21, 20, 29, 59, tzinfo=UTC)
    last_of_aban = period_key(
        UsagePeriod.MONTHLY, last_second_of_aban, zone=TEHRAN, calendar=jalali
    )
    first_of_azar = period_key(UsagePeriod.MONTHLY, AZAR_1405_START, zone=TEHRAN, calendar=jalali)

    assert (last_of_aban, first_of_azar) == ("1405-08", "1405-09")
    # The Jalali year turns over too: Esfand 1405 -> Farvardin 1406 on 2027-03-21.
    nowruz = datetime(2027, 3, 20, 20, 30, tzinfo=UTC)
    assert period_key(UsagePeriod.MONTHLY, nowruz, zone=TEHRAN, calendar=jalali) == "1406-01"
    start, end = period_bounds(UsagePeriod.MONTHLY, nowruz, zone=TEHRAN, calendar=jalali)
    assert start.date().isoformat() == "2027-03-21"
    assert end.date().isoformat() == "2027-04-21"


# --- caps and defaults -----------------------------------------------------------------------


async def test_defaults_cap_workspace_and_user_monthly_cost_only(
    usage: UsageService, world: World, settings: Settings
) -> None:
    caps = await usage.effective_caps(world.scopes)

    assert caps[UsageScope.WORKSPACE, UsagePeriod.MONTHLY] == Caps(
        cost_usd=settings.default_workspace_monthly_budget_usd
    )
    assert caps[UsageScope.USER, UsagePeriod.MONTHLY] == Caps(
        cost_usd=settings.default_user_monthly_budget_usd
    )
    uncapped = [key for key, cap in caps.items() if not cap.any]
    assert len(uncapped) == 4


async def test_a_token_only_limit_keeps_the_default_cost_budget(
    usage: UsageService, world: World, settings: Settings
) -> None:
    await usage.set_limit(
        actor=await principal_for(world.admin),
        scope=UsageScope.WORKSPACE,
        scope_id=world.workspace.id,
        period=UsagePeriod.MONTHLY,
        tokens_limit=1_000,
    )

    caps = await usage.effective_caps(world.scopes)

    assert caps[UsageScope.WORKSPACE, UsagePeriod.MONTHLY] == Caps(
        tokens=1_000, cost_usd=settings.default_workspace_monthly_budget_usd
    )


async def test_an_explicit_null_cost_lifts_the_default_budget(
    usage: UsageService, world: World
) -> None:
    await usage.set_limit(
        actor=await principal_for(world.admin),
        scope=UsageScope.USER,
        scope_id=world.writer.id,
        period=UsagePeriod.MONTHLY,
        tokens_limit=5,
        cost_limit_usd=None,
        organization_id=world.org.id,
    )

    caps = await usage.effective_caps(world.scopes)

    assert caps[UsageScope.USER, UsagePeriod.MONTHLY] == Caps(tokens=5)


async def test_set_limit_upserts_one_row_per_scope_and_period(
    usage: UsageService, world: World
) -> None:
    for requests in (10, 20):
        await usage.set_limit(
            actor=await principal_for(world.admin),
            scope=UsageScope.ORGANIZATION,
            scope_id=world.org.id,
            period=UsagePeriod.DAILY,
            requests_limit=requests,
        )

    rows = await UsageLimit.filter(scope=UsageScope.ORGANIZATION, scope_id=world.org.id)
    assert [(r.period, r.requests_limit, r.cost_limit_usd) for r in rows] == [
        (UsagePeriod.DAILY, 20, None)
    ]


async def test_only_admins_set_limits_and_foreign_scopes_are_not_found(
    usage: UsageService, world: World
) -> None:
    foreign = await make_org()
    foreign_workspace = await make_workspace(foreign)
    stranger = await add_member(foreign, Role.WRITER)

    with pytest.raises(PermissionDenied):
        await usage.set_limit(
            actor=await principal_for(world.roles[Role.EDITOR]),
            scope=UsageScope.ORGANIZATION,
            scope_id=world.org.id,
            period=UsagePeriod.DAILY,
            requests_limit=1,
        )
    for scope, scope_id in (
        (UsageScope.ORGANIZATION, foreign.id),
        (UsageScope.WORKSPACE, foreign_workspace.id),
        (UsageScope.WORKSPACE, 999_999),
        (UsageScope.USER, stranger.id),
        (UsageScope.USER, 999_999),
    ):
        with pytest.raises(NotFound):
            await usage.set_limit(
                actor=await principal_for(world.admin),
                scope=scope,
                scope_id=scope_id,
                period=UsagePeriod.DAILY,
                requests_limit=1,
                organization_id=world.org.id if scope is UsageScope.USER else None,
            )
    assert await UsageLimit.all().count() == 0


async def test_only_admins_set_a_members_own_limit(usage: UsageService, world: World) -> None:
    """A user-scope limit needs MANAGE_LIMITS in a shared organisation, not just usage reading:
    an editor (who may read the writer's usage) may not cap them, nor may a writer or viewer."""
    for role in (Role.EDITOR, Role.WRITER, Role.VIEWER):
        for period in (UsagePeriod.DAILY, UsagePeriod.MONTHLY):
            with pytest.raises(PermissionDenied):
                await usage.set_limit(
                    actor=await principal_for(world.roles[role]),
                    scope=UsageScope.USER,
                    scope_id=world.writer.id,
                    period=period,
                    requests_limit=1,
                    organization_id=world.org.id,
                )
    assert await UsageLimit.all().count() == 0
    # An admin of the writer's organisation, naming it: allowed.
    written = await usage.set_limit(
        actor=await principal_for(world.admin),
        scope=UsageScope.USER,
        scope_id=world.writer.id,
        period=UsagePeriod.DAILY,
        requests_limit=1,
        organization_id=world.org.id,
    )
    assert (written.organization_id, written.requests_limit) == (world.org.id, 1)


async def test_negative_caps_are_invalid(usage: UsageService, world: World) -> None:
    with pytest.raises(InvalidInput):
        await usage.set_limit(
            actor=await principal_for(world.admin),
            scope=UsageScope.ORGANIZATION,
            scope_id=world.org.id,
            period=UsagePeriod.DAILY,
            cost_limit_usd=Decimal("-1"),
        )


# --- reservations ----------------------------------------------------------------------------


async def test_a_reservation_holds_in_all_six_counters(usage: UsageService, world: World) -> None:
    job = await reserve(usage, world, tokens=1_234, cost="0.123456")

    counters = await UsageCounter.all()
    assert len(counters) == 6
    assert {(c.reserved_requests, c.reserved_tokens, c.reserved_cost_usd) for c in counters} == {
        (1, 1_234, Decimal("0.123456"))
    }
    reservation = await UsageReservation.get(job_id=job.id)
    assert reservation.status == ReservationStatus.HELD
    assert sorted(reservation.counter_ids) == sorted(c.id for c in counters)


async def test_refusal_in_one_scope_rolls_back_the_others(
    usage: UsageService, world: World
) -> None:
    await limit(
        UsageScope.USER,
        world.writer.id,
        UsagePeriod.DAILY,
        requests_limit=1,
        organization_id=world.org.id,
    )
    await reserve(usage, world)

    with pytest.raises(UsageLimitExceeded) as refused:
        await reserve(usage, world)

    assert refused.value.code == "usage_limit_exceeded"
    assert refused.value.params == {
        "scope": "user",
        "period": "daily",
        "kind": "requests",
        "limit": 1,
    }
    # Nothing of the refused attempt remains in any scope.
    for c in await UsageCounter.all():
        assert (c.reserved_requests, c.reserved_tokens) == (1, 100), c.scope
    assert await GenerationJob.all().count() == 1
    assert await UsageReservation.all().count() == 1


async def test_refusal_message_names_scope_and_limit_in_the_users_language(
    usage: UsageService, world: World
) -> None:
    await limit(
        UsageScope.WORKSPACE,
        world.workspace.id,
        UsagePeriod.MONTHLY,
        cost_limit_usd=Decimal("0.5"),
        organization_id=world.org.id,
    )

    with pytest.raises(UsageLimitExceeded) as refused:
        await reserve(usage, world, cost="0.6")

    assert refused.value.params["kind"] == "cost"
    assert refused.value.params["limit"] == "0.500000"
    assert error_message("en", refused.value) == (
        "The monthly cost limit of the workspace ($0.50) has been reached."
    )
    assert (
        error_message("fa", refused.value) == "هزینهٔ ماهانهٔ فضای کاری (۰٫۵۰ دلار) به سقف رسیده است."
    )


async def test_zero_allows_nothing_and_null_caps_nothing(usage: UsageService, world: World) -> None:
    await limit(
        UsageScope.ORGANIZATION,
        world.org.id,
        UsagePeriod.DAILY,
        requests_limit=None,
        tokens_limit=0,
        organization_id=world.org.id,
    )

    with pytest.raises(UsageLimitExceeded) as refused:
        await reserve(usage, world, tokens=1)

    assert refused.value.params["kind"] == "tokens"
    await UsageLimit.filter(scope=UsageScope.ORGANIZATION).update(tokens_limit=None)
    for _ in range(3):
        await reserve(usage, world, tokens=10**9, cost="0")


async def test_cost_cap_is_exact_at_six_decimal_places(usage: UsageService, world: World) -> None:
    await limit(
        UsageScope.ORGANIZATION,
        world.org.id,
        UsagePeriod.MONTHLY,
        cost_limit_usd=Decimal("0.3"),
        organization_id=world.org.id,
    )

    # 0.1 + 0.2 is 0.30000000000000004 in binary floating point; the cap must still allow it.
    await reserve(usage, world, cost="0.1")
    await reserve(usage, world, cost="0.2")
    with pytest.raises(UsageLimitExceeded):
        await reserve(usage, world, cost="0.000001")


async def test_concurrent_reservations_never_pass_the_cap(
    usage: UsageService, world: World
) -> None:
    await limit(
        UsageScope.WORKSPACE,
        world.workspace.id,
        UsagePeriod.DAILY,
        requests_limit=5,
        organization_id=world.org.id,
    )
    await reserve(usage, world)
    await reserve(usage, world)  # 3 requests left

    results = await asyncio.gather(
        *(reserve(usage, world) for _ in range(20)), return_exceptions=True
    )

    refused = [r for r in results if isinstance(r, UsageLimitExceeded)]
    passed = [r for r in results if isinstance(r, GenerationJob)]
    assert (len(passed), len(refused)) == (3, 17), [r for r in results if isinstance(r, Exception)]
    ws = await counter(UsageScope.WORKSPACE, world.workspace.id, UsagePeriod.DAILY)
    assert ws.requests + ws.reserved_requests == 5


async def test_settle_moves_reserved_to_used_and_logs(usage: UsageService, world: World) -> None:
    job = await reserve(usage, world, tokens=1_000, cost="0.5")

    async with in_transaction() as conn:
        await usage.settle(
            connection=conn,
            job=job,
            model="gpt-4o-mini",
            usage=Usage(prompt_tokens=100, completion_tokens=50),
            cost_usd=Decimal("0.000045"),
            success=True,
        )

    for c in await UsageCounter.all():
        assert (c.requests, c.tokens, c.cost_usd) == (1, 150, Decimal("0.000045"))
        assert (c.reserved_requests, c.reserved_tokens, c.reserved_cost_usd) == (0, 0, 0)
    log = await UsageLog.get(job_id=job.id)
    assert (log.total_tokens, log.cost_usd, log.success) == (150, Decimal("0.000045"), True)
    reservation = await UsageReservation.get(job_id=job.id)
    assert reservation.status == ReservationStatus.SETTLED


async def test_release_returns_the_reservation_once(usage: UsageService, world: World) -> None:
    job = await reserve(usage, world, tokens=1_000, cost="0.5")

    async with in_transaction() as conn:
        first = await usage.release(connection=conn, job_id=job.id)
    async with in_transaction() as conn:
        second = await usage.release(connection=conn, job_id=job.id)

    assert (first, second) == (True, False)
    for c in await UsageCounter.all():
        assert (c.requests, c.reserved_requests, c.reserved_tokens, c.reserved_cost_usd) == (
            0,
            0,
            0,
            0,
        )
    assert await UsageLog.all().count() == 0


async def test_settling_a_released_reservation_still_charges(
    usage: UsageService, world: World
) -> None:
    job = await reserve(usage, world, tokens=1_000, cost="0.5")
    async with in_transaction() as conn:
        await usage.release(connection=conn, job_id=job.id)

    async with in_transaction() as conn:
        await usage.settle(
            connection=conn,
            job=job,
            model="gpt-4o-mini",
            usage=Usage(prompt_tokens=10, completion_tokens=5),
            cost_usd=Decimal("0.000005"),
            success=True,
        )

    for c in await UsageCounter.all():
        assert (c.requests, c.tokens, c.reserved_requests, c.reserved_tokens) == (1, 15, 0, 0)


async def test_a_reservation_is_charged_at_most_once(usage: UsageService, world: World) -> None:
    job = await reserve(usage, world, tokens=1_000, cost="0.5")
    charge = {
        "job": job,
        "model": "gpt-4o-mini",
        "usage": Usage(prompt_tokens=10, completion_tokens=5),
        "cost_usd": Decimal("0.000005"),
        "success": True,
    }

    async with in_transaction() as conn:
        first = await usage.settle(connection=conn, **charge)
    async with in_transaction() as conn:
        second = await usage.settle(connection=conn, **charge)
    async with in_transaction() as conn:
        released = await usage.release(connection=conn, job_id=job.id)

    assert first is not None and second is None and released is False
    assert await UsageLog.filter(job_id=job.id).count() == 1
    for c in await UsageCounter.all():
        assert (c.requests, c.tokens, c.reserved_requests, c.reserved_tokens) == (1, 15, 0, 0)


async def test_a_daily_cap_starts_again_at_tehran_midnight(
    usage: UsageService, world: World, clock: FrozenClock
) -> None:
    await limit(
        UsageScope.USER,
        world.writer.id,
        UsagePeriod.DAILY,
        requests_limit=1,
        organization_id=world.org.id,
    )
    clock.current = BEFORE_TEHRAN_MIDNIGHT
    await reserve(usage, world)
    with pytest.raises(UsageLimitExceeded):
        await reserve(usage, world)

    clock.current = AT_TEHRAN_MIDNIGHT
    await reserve(usage, world)

    keys = await UsageCounter.filter(scope=UsageScope.USER, period=UsagePeriod.DAILY).values_list(
        "period_key", "reserved_requests"
    )
    assert sorted(keys) == [("2026-11-30", 1), ("2026-12-01", 1)]


async def test_a_monthly_cap_starts_again_with_the_solar_hijri_month(
    tehran: Settings, world: World, clock: FrozenClock
) -> None:
    usage = UsageService(
        settings=tehran.model_copy(update={"billing_calendar": BillingCalendar.JALALI}),
        clock=clock,
    )
    await limit(
        UsageScope.ORGANIZATION,
        world.org.id,
        UsagePeriod.MONTHLY,
        requests_limit=1,
        organization_id=world.org.id,
    )
    # 2026-11-21 23:59 Tehran is still Aban; under the Gregorian calendar it would be November
    # on both sides of this edge.
    clock.current = datetime(2026, 11, 21, 20, 29, tzinfo=UTC)
    await reserve(usage, world)
    with pytest.raises(UsageLimitExceeded):
        await reserve(usage, world)

    clock.current = AZAR_1405_START
    await reserve(usage, world)

    keys = await UsageCounter.filter(
        scope=UsageScope.ORGANIZATION, period=UsagePeriod.MONTHLY
    ).values_list("period_key", flat=True)
    assert sorted(keys) == ["1405-08", "1405-09"]


# --- summary ---------------------------------------------------------------------------------


async def log_usage(world: World, *, model: str, tokens: tuple[int, int], cost: str, at) -> None:
    await UsageLog.create(
        organization=world.org,
        workspace=world.workspace,
        user=world.writer,
        model=model,
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
        total_tokens=sum(tokens),
        cost_usd=Decimal(cost),
        created_at=at,
    )


async def test_summary_totals_and_breaks_down_by_model_in_one_query(
    usage: UsageService, world: World, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    now = clock.now()
    await log_usage(world, model="gpt-4o-mini", tokens=(100, 50), cost="0.000045", at=now)
    await log_usage(world, model="gpt-4o-mini", tokens=(10, 5), cost="0.000005", at=now)
    await log_usage(world, model="gpt-4o", tokens=(1_000, 500), cost="0.0125", at=now)
    # Last month: outside the period.
    await log_usage(
        world, model="gpt-4o", tokens=(1, 1), cost="9", at=datetime(2026, 10, 31, 12, tzinfo=UTC)
    )

    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        summary = await usage.summary(
            actor=await principal_for(world.roles[Role.EDITOR]),
            scope=UsageScope.ORGANIZATION,
            scope_id=world.org.id,
            period=UsagePeriod.MONTHLY,
        )

    log_queries = [r for r in caplog.records if "usage_logs" in r.getMessage()]
    assert len(log_queries) == 1
    assert (summary.requests, summary.prompt_tokens, summary.completion_tokens) == (3, 1110, 555)
    assert summary.total_tokens == 1665
    assert summary.cost_usd == Decimal("0.012550")
    assert [(m.model, m.requests, m.total_tokens, m.cost_usd) for m in summary.by_model] == [
        ("gpt-4o", 1, 1500, Decimal("0.012500")),
        ("gpt-4o-mini", 2, 165, Decimal("0.000050")),
    ]
    assert summary.start.isoformat() == "2026-11-01T00:00:00+03:30"


async def test_summary_visibility(usage: UsageService, world: World) -> None:
    writer, viewer = world.writer, world.roles[Role.VIEWER]
    foreign = await make_org()
    outsider = await add_member(foreign, Role.ADMIN)

    own = await usage.summary(
        actor=await principal_for(writer),
        scope=UsageScope.USER,
        scope_id=writer.id,
        period=UsagePeriod.DAILY,
    )
    assert own.requests == 0
    with pytest.raises(PermissionDenied):
        await usage.summary(
            actor=await principal_for(writer),
            scope=UsageScope.ORGANIZATION,
            scope_id=world.org.id,
            period=UsagePeriod.DAILY,
        )
    with pytest.raises(PermissionDenied):
        await usage.summary(
            actor=await principal_for(viewer),
            scope=UsageScope.USER,
            scope_id=writer.id,
            period=UsagePeriod.DAILY,
        )
    for scope, scope_id in (
        (UsageScope.ORGANIZATION, world.org.id),
        (UsageScope.WORKSPACE, world.workspace.id),
        (UsageScope.USER, writer.id),
    ):
        with pytest.raises(NotFound):
            await usage.summary(
                actor=await principal_for(outsider),
                scope=scope,
                scope_id=scope_id,
                period=UsagePeriod.DAILY,
            )


# --- user scope per organisation -------------------------------------------------------------


async def test_a_users_spending_in_one_organisation_does_not_drain_another(
    usage: UsageService, world: World
) -> None:
    other = await make_org()
    other_workspace = await make_workspace(other)
    await add_member(other, Role.ADMIN, world.writer)
    await usage.set_limit(
        actor=await principal_for(world.admin),
        scope=UsageScope.USER,
        scope_id=world.writer.id,
        period=UsagePeriod.DAILY,
        requests_limit=1,
        organization_id=world.org.id,
    )
    elsewhere = UsageScopes(
        organization_id=other.id, workspace_id=other_workspace.id, user_id=world.writer.id
    )
    # Spend in the other organisation first, then use the one request allowed here.
    await reserve(usage, world, scopes=elsewhere)
    await reserve(usage, world, scopes=elsewhere)
    await reserve(usage, world)

    with pytest.raises(UsageLimitExceeded):
        await reserve(usage, world)
    user_counters = await UsageCounter.filter(
        scope=UsageScope.USER, period=UsagePeriod.DAILY
    ).values_list("organization_id", "reserved_requests")
    assert sorted(user_counters) == sorted([(world.org.id, 1), (other.id, 2)])


async def test_a_user_limit_names_its_organisation_and_only_its_admins_set_it(
    usage: UsageService, world: World
) -> None:
    other = await make_org()
    other_admin = await add_member(other, Role.ADMIN)
    await add_member(other, Role.WRITER, world.writer)
    base = {
        "scope": UsageScope.USER,
        "scope_id": world.writer.id,
        "period": UsagePeriod.DAILY,
        "requests_limit": 0,
    }
    with pytest.raises(InvalidInput) as missing:
        await usage.set_limit(actor=await principal_for(other_admin), **base)
    assert missing.value.code == "limit_organization_required"
    with pytest.raises(NotFound):  # an organisation where the actor is no admin or member
        await usage.set_limit(
            actor=await principal_for(other_admin), **base, organization_id=world.org.id
        )
    with pytest.raises(InvalidInput) as mismatch:
        await usage.set_limit(
            actor=await principal_for(world.admin),
            scope=UsageScope.ORGANIZATION,
            scope_id=world.org.id,
            period=UsagePeriod.DAILY,
            organization_id=other.id,
        )
    assert mismatch.value.code == "limit_organization_mismatch"

    await usage.set_limit(actor=await principal_for(other_admin), **base, organization_id=other.id)

    caps = await usage.effective_caps(world.scopes)
    assert caps[UsageScope.USER, UsagePeriod.DAILY] == Caps()
    own = await usage.list_limits(actor=await principal_for(world.admin))
    assert own.items == []
    theirs = await usage.list_limits(actor=await principal_for(other_admin))
    assert (theirs.count, [r.organization_id for r in theirs.items]) == (1, [other.id])


async def test_a_members_usage_shows_only_inside_organisations_the_reader_may_see(
    usage: UsageService, world: World, clock: FrozenClock
) -> None:
    """The writer also works in a second organisation the editor does not belong to (and in a
    third where the editor is only a viewer): the editor reads the first one's usage only."""
    second = await make_org()
    await add_member(second, Role.WRITER, world.writer)
    third = await make_org()
    await add_member(third, Role.WRITER, world.writer)
    await add_member(third, Role.VIEWER, world.roles[Role.EDITOR])
    now = clock.now()
    await log_usage(world, model="gpt-4o-mini", tokens=(100, 50), cost="0.000045", at=now)
    for org, model in ((second, "gpt-4o"), (third, "gpt-4.1")):
        workspace = await make_workspace(org)
        await UsageLog.create(
            organization=org,
            workspace=workspace,
            user=world.writer,
            model=model,
            prompt_tokens=1_000,
            completion_tokens=500,
            total_tokens=1_500,
            cost_usd=Decimal("0.0125"),
            created_at=now,
        )

    seen_by_editor = await usage.summary(
        actor=await principal_for(world.roles[Role.EDITOR]),
        scope=UsageScope.USER,
        scope_id=world.writer.id,
        period=UsagePeriod.MONTHLY,
    )
    own = await usage.summary(
        actor=await principal_for(world.writer),
        scope=UsageScope.USER,
        scope_id=world.writer.id,
        period=UsagePeriod.MONTHLY,
    )

    assert [m.model for m in seen_by_editor.by_model] == ["gpt-4o-mini"]
    assert (seen_by_editor.requests, seen_by_editor.total_tokens) == (1, 150)
    assert seen_by_editor.cost_usd == Decimal("0.000045")
    # The writer sees their own usage everywhere.
    assert [m.model for m in own.by_model] == ["gpt-4.1", "gpt-4o", "gpt-4o-mini"]
    assert own.requests == 3


async def test_the_monthly_summary_starts_at_tehran_midnight(
    usage: UsageService, world: World, clock: FrozenClock
) -> None:
    """1 December 00:00 in Tehran is 30 November 20:30 UTC: a log at 21:00 UTC is December's,
    one at 20:00 UTC November's, on both databases (SQLite compares stored times as text)."""
    clock.current = datetime(2026, 12, 5, 12, tzinfo=UTC)
    await log_usage(
        world, model="gpt-4o", tokens=(1, 1), cost="1", at=datetime(2026, 11, 30, 21, tzinfo=UTC)
    )
    await log_usage(
        world, model="gpt-4o", tokens=(1, 1), cost="9", at=datetime(2026, 11, 30, 20, tzinfo=UTC)
    )
    summary = await usage.summary(
        actor=await principal_for(world.admin),
        scope=UsageScope.ORGANIZATION,
        scope_id=world.org.id,
        period=UsagePeriod.MONTHLY,
    )
    assert (summary.requests, summary.cost_usd) == (1, Decimal("1.000000"))
