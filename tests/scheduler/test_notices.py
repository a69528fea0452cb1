"""The scheduler's messages against the real database, with the clock moved: the period report
at each billing period start, the 80% limit warnings, the review digest, and the cleanups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import jdatetime
import pytest

from core.clock import FrozenClock
from core.container import Services, build_services
from core.services.notifications import (
    KIND_LIMIT_WARNING,
    KIND_REVIEW_REMINDER,
    KIND_USAGE_REPORT,
)
from core.settings import BillingCalendar, Settings
from db.models import (
    BotConversation,
    Content,
    ContentStatus,
    JobRun,
    LimitWarning,
    Organization,
    OutboxMessage,
    OutboxStatus,
    Role,
    TelegramLink,
    UsageCounter,
    UsageLimit,
    UsageLog,
    UsagePeriod,
    UsageScope,
    User,
    Workspace,
)
from scheduler import jobs
from scheduler.setup import catch_up, fire, job_named, trigger_of
from tests.support.factories import (
    add_member,
    make_content,
    make_org,
    make_project,
    make_user,
    make_workspace,
    principal_for,
)

pytestmark = pytest.mark.sqlite
TEHRAN = ZoneInfo("Asia/Tehran")


@dataclass
class Team:
    org_id: int
    admin: User
    editor: User
    writer: User
    workspace: Workspace


@pytest.fixture
async def team(db: str) -> Team:
    org = await make_org(name="Acme")
    admin = await add_member(org, Role.ADMIN, await make_user(full_name="Ada"))
    editor = await add_member(org, Role.EDITOR, await make_user(full_name="Eddie"))
    writer = await add_member(org, Role.WRITER, await make_user(full_name="Wanda"))
    for number, user in enumerate((admin, editor, writer), start=1):
        await TelegramLink.create(user=user, telegram_user_id=7000 + number, chat_id=7000 + number)
    return Team(org.id, admin, editor, writer, await make_workspace(org, name="Blog"))


@pytest.fixture
async def jalali(settings: Settings, clock: FrozenClock, db: str) -> AsyncIterator[Services]:
    built = build_services(
        settings.model_copy(update={"billing_calendar": BillingCalendar.JALALI}), clock=clock
    )
    yield built
    await built.aclose()


def tehran(*args: int) -> datetime:
    return datetime(*args, tzinfo=TEHRAN)


async def log_usage(team: Team, at: datetime, *, tokens: int = 100, cost: str = "0.5") -> None:
    await UsageLog.create(
        organization_id=team.org_id,
        workspace=team.workspace,
        user=team.writer,
        model="gpt-4o-mini",
        total_tokens=tokens,
        cost_usd=Decimal(cost),
        created_at=at.astimezone(UTC),
    )


async def outbox(kind: str) -> list[OutboxMessage]:
    return await OutboxMessage.filter(kind=kind).order_by("user_id", "id")


# --- usage_rollover: at each billing period start ------------------------------------------


@pytest.mark.parametrize(("year", "esfand_days"), [(1403, 30), (1404, 29)])
async def test_the_report_of_esfand_goes_out_at_the_first_of_farvardin(
    jalali: Services, clock: FrozenClock, team: Team, year: int, esfand_days: int
) -> None:
    first = jdatetime.date(year, 12, 1).togregorian()
    last = jdatetime.date(year, 12, esfand_days).togregorian()
    farvardin = jdatetime.date(year + 1, 1, 1).togregorian()
    assert (last + timedelta(days=1)) == farvardin  # Esfand has esfand_days days this year
    boundary = tehran(farvardin.year, farvardin.month, farvardin.day)
    await log_usage(team, tehran(first.year, first.month, first.day))  # first minute of Esfand
    await log_usage(team, tehran(last.year, last.month, last.day, 23, 59), tokens=50)
    await log_usage(team, boundary + timedelta(seconds=30), tokens=999)  # already Farvardin

    job = job_named("usage_rollover")
    trigger = trigger_of(job, jalali)
    mid_esfand = tehran(last.year, last.month, last.day, 12)
    assert trigger.get_next_fire_time(None, mid_esfand) == boundary
    assert trigger.get_next_fire_time(None, boundary) == boundary  # a boundary is its own start
    assert trigger.get_next_fire_time(boundary, boundary + timedelta(seconds=1)) > boundary
    clock.current = boundary + timedelta(seconds=3)  # the scheduler fires a little late
    result = await fire(job, jalali, trigger)

    assert result.ran and result.key == boundary.isoformat()
    assert result.detail == {"organizations": 1, "messages": 1}
    (row,) = await outbox(KIND_USAGE_REPORT)
    assert row.user_id == team.admin.id  # admins only
    payload = row.payload
    assert payload["period_key"] == f"{year}-12"
    assert (payload["first_day"], payload["last_day"]) == (first.isoformat(), last.isoformat())
    assert (payload["requests"], payload["tokens"], payload["cost_usd"]) == (2, 150, "1.000000")
    assert payload["by_workspace"] == [
        {"label": "Blog", "requests": 2, "tokens": 150, "cost_usd": "1.000000"}
    ]
    assert payload["by_user"][0]["label"] == "Wanda"


async def test_a_gregorian_month_rolls_over_at_tehran_midnight_not_utc(
    services: Services, clock: FrozenClock, team: Team
) -> None:
    job = job_named("usage_rollover")
    trigger = trigger_of(job, services)
    boundary = tehran(2026, 12, 1)  # 2026-11-30 20:30 UTC
    assert trigger.get_next_fire_time(None, tehran(2026, 11, 30, 23, 0)) == boundary
    await log_usage(team, boundary - timedelta(minutes=1))  # 23:59 Tehran: November
    await log_usage(team, boundary + timedelta(hours=1))  # 21:30 UTC on the 30th: December
    clock.current = boundary.astimezone(UTC)
    result = await fire(job, services, trigger)
    (row,) = await outbox(KIND_USAGE_REPORT)
    assert result.key == "2026-12-01T00:00:00+03:30"
    assert (row.payload["period_key"], row.payload["requests"]) == ("2026-11", 1)


async def test_two_schedulers_firing_the_rollover_send_one_set_of_reports(
    services: Services, settings: Settings, clock: FrozenClock, team: Team
) -> None:
    await log_usage(team, tehran(2026, 11, 15))
    clock.current = tehran(2026, 12, 1, 0, 0, 1).astimezone(UTC)
    other = build_services(settings, clock=clock)  # a second instance on the same database
    try:
        job = job_named("usage_rollover")
        results = await asyncio.gather(
            fire(job, services, trigger_of(job, services)), fire(job, other, trigger_of(job, other))
        )
    finally:
        await other.aclose()
    assert sorted(result.ran for result in results) == [False, True]
    assert await JobRun.filter(job_name="usage_rollover").count() == 1
    assert len(await outbox(KIND_USAGE_REPORT)) == 1


async def test_a_boundary_missed_while_down_is_caught_up_on_start_within_its_grace(
    services: Services, clock: FrozenClock, team: Team
) -> None:
    job = job_named("usage_rollover")
    trigger = trigger_of(job, services)
    clock.current = tehran(2026, 12, 1, 7, 0).astimezone(UTC)  # deployed across midnight
    first = await catch_up(job, services, trigger)
    again = await catch_up(job, services, trigger)  # a second instance starting too
    assert first is not None and first.ran and first.key == "2026-12-01T00:00:00+03:30"
    assert again is not None and not again.ran
    clock.current = tehran(2026, 12, 10).astimezone(UTC)  # long past the grace: nothing to do
    assert await catch_up(job, services, trigger) is None
    assert len(await outbox(KIND_USAGE_REPORT)) == 1


async def test_a_rerun_after_a_crash_sends_only_the_reports_not_yet_sent(
    services: Services, clock: FrozenClock, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rollover died after the first organisation's report: running it again (by hand)
    reports the second alone, and a third run sends nothing."""
    other = await make_org(name="Beta")
    beta_admin = await add_member(other, Role.ADMIN, await make_user(full_name="Bea"))
    await TelegramLink.create(user=beta_admin, telegram_user_id=7101, chat_id=7101)
    await log_usage(team, tehran(2026, 11, 15))
    clock.current = tehran(2026, 12, 1, 0, 0, 1).astimezone(UTC)
    build = services.reports.build

    async def crash_on_beta(org_id: int, *args: object):
        if org_id == other.id:
            raise ConnectionError("the database went away")
        return await build(org_id, *args)

    monkeypatch.setattr(services.reports, "build", crash_on_beta)
    with pytest.raises(ConnectionError):
        await jobs.usage_rollover(services)
    assert [row.user_id for row in await outbox(KIND_USAGE_REPORT)] == [team.admin.id]

    monkeypatch.setattr(services.reports, "build", build)
    assert await jobs.usage_rollover(services) == {
        "organizations": 1,
        "messages": 1,
        "already_sent": 1,
    }
    assert await jobs.usage_rollover(services) == {
        "organizations": 0,
        "messages": 0,
        "already_sent": 2,
    }
    rows = await outbox(KIND_USAGE_REPORT)
    assert sorted(row.user_id for row in rows) == sorted([team.admin.id, beta_admin.id])


# --- limit warnings: once per period, scope and metric ---------------------------------------


async def counter(team: Team, scope: UsageScope, scope_id: int, period: UsagePeriod, key: str,
                  **used: object) -> UsageCounter:  # fmt: skip
    return await UsageCounter.create(
        organization_id=team.org_id,
        scope=scope,
        scope_id=scope_id,
        period=period,
        period_key=key,
        **used,
    )


async def test_the_warning_goes_out_once_per_period_not_at_every_check(
    services: Services, clock: FrozenClock, team: Team
) -> None:
    await UsageLimit.create(
        organization_id=team.org_id,
        scope=UsageScope.USER,
        scope_id=team.writer.id,
        period=UsagePeriod.DAILY,
        requests_limit=10,
    )
    clock.current = tehran(2026, 12, 2, 23, 0).astimezone(UTC)
    today = await counter(team, UsageScope.USER, team.writer.id, UsagePeriod.DAILY, "2026-12-02",
                          requests=7)  # fmt: skip
    assert await jobs.limit_warnings(services) == {"warnings": 0, "messages": 0}  # 70%

    await UsageCounter.filter(id=today.id).update(requests=8)  # 80%: warned
    assert await jobs.limit_warnings(services) == {"warnings": 1, "messages": 2}
    rows = await outbox(KIND_LIMIT_WARNING)
    assert [row.user_id for row in rows] == sorted([team.admin.id, team.writer.id])
    assert rows[0].payload | {"organization_id": 0, "scope_id": 0} == {
        "organization_id": 0,
        "organization": "Acme",
        "scope": "user",
        "scope_id": 0,
        "scope_name": "Wanda",
        "period": "daily",
        "period_key": "2026-12-02",
        "metric": "requests",
        "used": "8",
        "limit": "10",
        "percent": 80,
    }
    await UsageCounter.filter(id=today.id).update(requests=9)
    for _ in range(3):  # every later check of the same day: nothing new
        assert await jobs.limit_warnings(services) == {"warnings": 0, "messages": 0}

    clock.current = tehran(2026, 12, 3, 0, 1).astimezone(UTC)  # past Tehran midnight
    await counter(team, UsageScope.USER, team.writer.id, UsagePeriod.DAILY, "2026-12-03",
                  requests=9)  # fmt: skip
    assert await jobs.limit_warnings(services) == {"warnings": 1, "messages": 2}
    assert len(await outbox(KIND_LIMIT_WARNING)) == 4
    assert await LimitWarning.filter(period_key="2026-12-03").count() == 1


async def test_workspace_and_default_budget_warnings_go_to_admins_only(
    services: Services, clock: FrozenClock, team: Team
) -> None:
    clock.current = tehran(2026, 12, 2, 12, 0).astimezone(UTC)
    budget = services.settings.default_workspace_monthly_budget_usd
    await counter(team, UsageScope.WORKSPACE, team.workspace.id, UsagePeriod.MONTHLY, "2026-12",
                  cost_usd=budget * Decimal("0.9"))  # fmt: skip
    assert await jobs.limit_warnings(services) == {"warnings": 1, "messages": 1}
    (row,) = await outbox(KIND_LIMIT_WARNING)
    assert row.user_id == team.admin.id
    assert (row.payload["scope"], row.payload["metric"], row.payload["percent"]) == (
        "workspace",
        "cost",
        90,
    )


async def test_two_schedulers_checking_at_once_warn_once(
    services: Services, settings: Settings, clock: FrozenClock, team: Team
) -> None:
    await UsageLimit.create(
        organization_id=team.org_id,
        scope=UsageScope.ORGANIZATION,
        scope_id=team.org_id,
        period=UsagePeriod.MONTHLY,
        tokens_limit=1000,
    )
    await counter(team, UsageScope.ORGANIZATION, team.org_id, UsagePeriod.MONTHLY, "2026-11",
                  tokens=950)  # fmt: skip
    other = build_services(settings, clock=clock)
    try:
        # Straight to the job, past the run-once guard: the unique warning row alone decides.
        results = await asyncio.gather(jobs.limit_warnings(services), jobs.limit_warnings(other))
    finally:
        await other.aclose()
    assert sorted(r["warnings"] for r in results) == [0, 1]
    assert len(await outbox(KIND_LIMIT_WARNING)) == 1


# --- review reminders --------------------------------------------------------------------------


async def test_reviewers_get_a_daily_digest_of_content_waiting_over_a_day(
    services: Services, clock: FrozenClock, team: Team
) -> None:
    project = await make_project(team.workspace, name="Launch")

    async def in_review(title: str, submitted: datetime) -> Content:
        content = await make_content(project, team.writer, title=title)
        await Content.filter(id=content.id).update(
            status=ContentStatus.REVIEW, submitted_at=submitted.astimezone(UTC)
        )
        return content

    await in_review("Old", tehran(2026, 11, 29, 8, 0))
    await in_review("Yesterday", tehran(2026, 12, 1, 10, 0))
    job = job_named("review_reminders")
    clock.current = tehran(2026, 12, 2, 9, 0).astimezone(UTC)  # the 09:00 Tehran run
    result = await fire(job, services, trigger_of(job, services))
    assert result.key == "2026-12-02T09:00:00+03:30"
    assert result.detail == {"organizations": 1, "messages": 2}
    rows = await outbox(KIND_REVIEW_REMINDER)
    assert [row.user_id for row in rows] == sorted([team.admin.id, team.editor.id])
    assert [item["title"] for item in rows[0].payload["items"]] == ["Old"]
    assert rows[0].payload["items"][0]["waiting_days"] == 3

    clock.current = tehran(2026, 12, 3, 9, 0).astimezone(UTC)  # a day later both have waited
    await fire(job, services, trigger_of(job, services))
    latest = (await outbox(KIND_REVIEW_REMINDER))[-1]
    assert [item["title"] for item in latest.payload["items"]] == ["Old", "Yesterday"]


async def test_an_organisation_with_a_review_group_gets_the_digest_in_the_group(
    services: Services, clock: FrozenClock, team: Team
) -> None:
    project = await make_project(team.workspace)
    content = await make_content(project, team.writer, title="Old")
    submitted = tehran(2026, 11, 29, 8, 0).astimezone(UTC)
    await Content.filter(id=content.id).update(status=ContentStatus.REVIEW, submitted_at=submitted)
    await Organization.filter(id=team.org_id).update(review_chat_id=-100123)
    job = job_named("review_reminders")
    clock.current = tehran(2026, 12, 2, 9, 0).astimezone(UTC)
    result = await fire(job, services, trigger_of(job, services))
    assert result.detail == {"organizations": 1, "messages": 1}
    [row] = await outbox(KIND_REVIEW_REMINDER)
    assert (row.user_id, row.chat_id) == (None, -100123)
    assert [item["title"] for item in row.payload["items"]] == ["Old"]


async def test_submitting_records_when_the_wait_began(
    services: Services, clock: FrozenClock, team: Team
) -> None:
    project = await make_project(team.workspace)
    content = await make_content(project, team.writer, body="some words here")
    await Content.filter(id=content.id).update(word_count=3)
    submitted = await services.content.submit(
        actor=await principal_for(team.writer), content_id=content.id
    )
    assert submitted.submitted_at == clock.now()


# --- cleanups ----------------------------------------------------------------------------------


async def test_expired_conversation_state_is_cleared_and_the_language_kept(
    services: Services, clock: FrozenClock
) -> None:
    conversations = services.conversations
    await conversations.set_language(1, 1, "fa")
    await conversations.set(1, 1, "asking_title", {"draft": "x"})
    await conversations.set(2, 2, "asking_title", {"draft": "y"})
    clock.advance(hours=23)
    await conversations.set(2, 2, "asking_body", {"draft": "y"})  # still live
    clock.advance(hours=2)
    assert await jobs.clear_expired_conversations(services) == {"cleared": 1}
    expired = await BotConversation.get(chat_id=1)
    assert (expired.state, expired.data, expired.language) == ("", {}, "fa")
    assert (await BotConversation.get(chat_id=2)).state == "asking_body"


async def test_delivered_messages_past_the_retention_are_purged_in_batches(
    services: Services, clock: FrozenClock, team: Team
) -> None:
    keep = timedelta(days=services.settings.outbox_keep_days)
    old = clock.now() - keep - timedelta(hours=1)

    async def message(status: OutboxStatus, created: datetime) -> OutboxMessage:
        return await OutboxMessage.create(
            user=team.admin, kind="k", status=status, next_attempt_at=created, created_at=created
        )

    for _ in range(3):
        await message(OutboxStatus.SENT, old)
    await message(OutboxStatus.FAILED, old)
    pending = await message(OutboxStatus.PENDING, old)  # never sent: kept
    recent = await message(OutboxStatus.SENT, clock.now())
    assert await services.outbox.purge(batch=2) == 4
    remaining = await OutboxMessage.all().order_by("id").values_list("id", flat=True)
    assert remaining == [pending.id, recent.id]
    assert await jobs.purge_delivered_outbox(services) == {"deleted": 0}
