"""Period usage reports: per workspace and member, on both billing calendars, tenant-checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core.clock import FrozenClock
from core.errors import NotFound, PermissionDenied
from core.services.reports import ReportService
from core.settings import BillingCalendar, Settings
from db.models import Role, UsageLog, UsagePeriod
from tests.support.factories import make_org, make_workspace, org_with_roles, principal_for

pytestmark = pytest.mark.sqlite


def tehran(*args: int) -> datetime:
    """A Tehran wall-clock time as UTC (Iran is +03:30 all year)."""
    return datetime(*args, tzinfo=ZoneInfo("Asia/Tehran")).astimezone(UTC)


async def _log(org, workspace, user, at: datetime, tokens: int, cost: str) -> None:
    await UsageLog.create(
        organization=org,
        workspace=workspace,
        user=user,
        model="gpt-4o-mini",
        prompt_tokens=tokens // 2,
        completion_tokens=tokens - tokens // 2,
        total_tokens=tokens,
        cost_usd=Decimal(cost),
        created_at=at,
    )


def _service(settings: Settings, clock: FrozenClock, calendar: BillingCalendar) -> ReportService:
    return ReportService(
        settings=settings.model_copy(update={"billing_calendar": calendar}), clock=clock
    )


async def test_the_jalali_month_just_ended_across_a_tehran_midnight(
    db: str, settings: Settings, clock: FrozenClock
) -> None:
    org, members = await org_with_roles()
    news, blog = await make_workspace(org, name="News"), await make_workspace(org, name="Blog")
    writer, editor = members[Role.WRITER], members[Role.EDITOR]
    writer.full_name = "Sara"
    await writer.save()
    # 1 Farvardin 1405 = 21 March 2026; the last minute of Esfand 1404 counts, the first of
    # Farvardin does not.
    await _log(org, news, writer, tehran(2026, 3, 20, 23, 59), 100, "0.010000")
    await _log(org, news, editor, tehran(2026, 2, 20, 0, 0), 50, "0.002000")  # 1 Esfand
    await _log(org, blog, writer, tehran(2026, 3, 1, 12, 0), 30, "0.003000")
    await _log(org, blog, writer, tehran(2026, 3, 21, 0, 0), 999, "9.000000")  # Farvardin
    await _log(org, blog, writer, tehran(2026, 2, 19, 23, 59), 999, "9.000000")  # Bahman
    other = await make_org()
    await _log(other, await make_workspace(other), writer, tehran(2026, 3, 5), 7, "1.0")
    clock.current = tehran(2026, 3, 21, 0, 10)
    service = _service(settings, clock, BillingCalendar.JALALI)
    start, end, key = service.period_just_ended()
    assert key == "1404-12"
    assert (start, end) == (tehran(2026, 2, 20), tehran(2026, 3, 21))
    report = await service.build(org.id, start, end, key)
    assert (report.requests, report.tokens, report.cost_usd) == (3, 180, Decimal("0.015000"))
    assert [(line.label, line.requests, line.tokens) for line in report.by_workspace] == [
        ("News", 2, 150),
        ("Blog", 1, 30),
    ]
    assert [(line.id, line.label, line.cost_usd) for line in report.by_user] == [
        (writer.id, "Sara", Decimal("0.013000")),
        (editor.id, None, Decimal("0.002000")),
    ]


@pytest.mark.parametrize(
    ("now", "key", "days"),
    [
        (datetime(2025, 3, 21, 1, 0), "1403-12", 30),  # 1403 is a leap year: Esfand has 30 days
        (datetime(2026, 3, 21, 1, 0), "1404-12", 29),
    ],
)
async def test_esfand_has_its_own_length(
    db: str, settings: Settings, clock: FrozenClock, now: datetime, key: str, days: int
) -> None:
    clock.current = tehran(*now.timetuple()[:5])
    start, end, got = _service(settings, clock, BillingCalendar.JALALI).period_just_ended()
    assert got == key
    assert (end - start).days == days


async def test_the_gregorian_month_just_ended(
    db: str, settings: Settings, clock: FrozenClock
) -> None:
    clock.current = tehran(2026, 12, 1, 0, 5)
    start, end, key = _service(settings, clock, BillingCalendar.GREGORIAN).period_just_ended()
    assert (key, start, end) == ("2026-11", tehran(2026, 11, 1), tehran(2026, 12, 1))


async def test_the_current_report_is_for_editors_and_admins_of_that_organisation(
    db: str, settings: Settings, clock: FrozenClock
) -> None:
    org, members = await org_with_roles()
    service = _service(settings, clock, BillingCalendar.GREGORIAN)
    await _log(org, await make_workspace(org), members[Role.WRITER], clock.now(), 10, "0.1")
    for role in (Role.ADMIN, Role.EDITOR):
        report = await service.current(
            actor=await principal_for(members[role]), organization_id=org.id
        )
        assert report.requests == 1 and report.period_key == "2026-11"
    for role in (Role.WRITER, Role.VIEWER):
        with pytest.raises(PermissionDenied):
            await service.current(actor=await principal_for(members[role]), organization_id=org.id)
    _, strangers = await org_with_roles()
    with pytest.raises(NotFound):
        await service.current(
            actor=await principal_for(strangers[Role.ADMIN]), organization_id=org.id
        )


async def test_the_current_daily_report_counts_today_only(
    db: str, settings: Settings, clock: FrozenClock
) -> None:
    org, members = await org_with_roles()
    service = _service(settings, clock, BillingCalendar.GREGORIAN)
    workspace = await make_workspace(org)
    now = clock.now()
    await _log(org, workspace, members[Role.WRITER], now, 10, "0.1")
    await _log(org, workspace, members[Role.WRITER], now - timedelta(days=1), 20, "0.2")
    admin = members[Role.ADMIN]
    daily = await service.current(
        actor=await principal_for(admin), organization_id=org.id, period=UsagePeriod.DAILY
    )
    monthly = await service.current(actor=await principal_for(admin), organization_id=org.id)
    assert (daily.requests, daily.tokens) == (1, 10)
    assert daily.by_user[0].id == members[Role.WRITER].id
    assert daily.period_key == "2026-11-30"
    assert monthly.requests == 2  # the frozen clock stands on 30 November: yesterday counts
