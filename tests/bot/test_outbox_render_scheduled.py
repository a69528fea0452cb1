"""The scheduler's notifications read well in Persian and English (bot/outbox_render_scheduled.py),
and a period report travels from the job through the delivery worker to Telegram."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from telegram import Bot

from bot.delivery import DeliveryWorker
from bot.outbox_render import render
from core.clock import FrozenClock
from core.container import Services
from core.i18n import catalog
from core.services.notifications import (
    KIND_LIMIT_WARNING,
    KIND_REVIEW_REMINDER,
    KIND_USAGE_REPORT,
)
from db.models import Language, Role, TelegramLink, UsageLog
from scheduler.setup import fire, job_named, trigger_of
from tests.fakes.bot_api import FakeBotApi
from tests.support.factories import add_member, make_org, make_user, make_workspace

REPORT = {
    "organization_id": 1,
    "organization": "Acme",
    "period_key": "1404-12",
    "calendar": "jalali",
    "first_day": "2026-02-20",
    "last_day": "2026-03-20",
    "requests": 1234,
    "tokens": 56789,
    "cost_usd": "12.345000",
    "by_workspace": [{"label": "Blog", "requests": 1234, "tokens": 56789, "cost_usd": "12.345"}],
    "more_workspaces": 0,
    "by_user": [{"label": None, "requests": 1, "tokens": 2, "cost_usd": "0.000450"}],
    "more_users": 3,
}
WARNING = {
    "organization_id": 1,
    "organization": "Acme",
    "scope": "workspace",
    "scope_id": 5,
    "scope_name": "Blog",
    "period": "monthly",
    "period_key": "2026-12",
    "metric": "cost",
    "used": "85.000000",
    "limit": "100.000000",
    "percent": 85,
}
REMINDER = {
    "organization_id": 1,
    "organization": "Acme",
    "count": 22,
    "items": [{"content_id": 9, "title": "Spring sale", "project": "Launch", "waiting_days": 3}],
    "more": 21,
}


def test_the_period_report_in_persian_has_persian_digits_month_and_currency() -> None:
    text = render(KIND_USAGE_REPORT, REPORT, "fa").text
    assert text.startswith("📊 گزارش مصرف «Acme»\nاسفند ۱۴۰۴ (۱۴۰۴/۱۲/۰۱ تا ۱۴۰۴/۱۲/۲۹)")
    assert "جمع: ۱٬۲۳۴ درخواست · ۵۶٬۷۸۹ توکن · ۱۲٫۳۵ دلار" in text
    assert "• (حذف‌شده): ۱ درخواست · ۲ توکن · کمتر از ۰٫۰۱ دلار" in text
    assert "… و ۳ مورد دیگر" in text


def test_the_period_report_in_english() -> None:
    text = render(KIND_USAGE_REPORT, REPORT, "en").text
    assert text.startswith("📊 Usage report of “Acme”\nEsfand 1404 (1404/12/01 – 1404/12/29)")
    assert "Total: requests 1,234 · tokens 56,789 · cost $12.35" in text
    assert "By workspace:\n• Blog: requests 1,234 · tokens 56,789 · cost $12.35" in text
    assert "… and 3 more" in text
    gregorian = {**REPORT, "calendar": "gregorian", "period_key": "2026-11", "requests": 0}
    empty = render(KIND_USAGE_REPORT, gregorian, "en").text
    assert empty.endswith("November 2026 (2026-02-20 – 2026-03-20)\n\nNo generations this period.")


def test_a_limit_warning_in_both_languages() -> None:
    assert render(KIND_LIMIT_WARNING, WARNING, "en").text == (
        "⚠️ Workspace “Blog” in “Acme” has used 85% of its monthly cost limit "
        "($85.00 of $100.00) for 2026-12."
    )
    persian = render(KIND_LIMIT_WARNING, WARNING, "fa").text
    assert "۸۵٪ از سقف هزینهٔ ماهانه" in persian and "(۸۵٫۰۰ دلار از ۱۰۰٫۰۰ دلار)" in persian
    user = {**WARNING, "scope": "user", "scope_name": "Wanda", "metric": "requests",
            "period": "daily", "used": "8", "limit": "10", "percent": 80}  # fmt: skip
    assert render(KIND_LIMIT_WARNING, user, "en").text.startswith(
        "⚠️ Wanda has used 80% of their daily request limit in “Acme” (8 of 10)"
    )


def test_the_review_digest_in_both_languages() -> None:
    assert render(KIND_REVIEW_REMINDER, REMINDER, "en").text == (
        "⏰ 22 items in “Acme” have been waiting in review for over a day:\n"
        "• “Spring sale” (Launch), waiting 3 days\n… and 21 more"
    )
    persian = render(KIND_REVIEW_REMINDER, REMINDER, "fa").text
    assert persian.startswith("⏰ ۲۲ مورد در «Acme»")
    assert "• «Spring sale» (Launch)، ۳ روز در انتظار" in persian


@pytest.mark.parametrize("language", ["fa", "en"])
def test_every_scheduler_text_exists_in_both_languages(language: str) -> None:
    mine = {key for key in catalog("en") if key.startswith("outbox_scheduler.")}
    assert len(mine) > 40
    assert mine <= set(catalog(language))
    for kind, payload in (
        (KIND_USAGE_REPORT, REPORT),
        (KIND_LIMIT_WARNING, WARNING),
        (KIND_REVIEW_REMINDER, REMINDER),
    ):
        text = render(kind, payload, language).text
        assert "outbox_scheduler." not in text
        assert not re.search(r"\$[a-z_]", text)  # every placeholder filled


async def test_the_period_report_reaches_the_admin_in_persian(
    bot: Bot, bot_api: FakeBotApi, services: Services, clock: FrozenClock
) -> None:
    org = await make_org(name="Acme")
    admin = await add_member(org, Role.ADMIN, await make_user(language=Language.FA))
    await TelegramLink.create(user=admin, telegram_user_id=9100, chat_id=9100)
    bot_api.add_user(9100)
    workspace = await make_workspace(org, name="Blog")
    await UsageLog.create(
        organization=org,
        workspace=workspace,
        user=admin,
        model="m",
        total_tokens=1500,
        cost_usd="2.5",
        created_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    clock.current = datetime(2026, 11, 30, 20, 30, 5, tzinfo=UTC)  # Tehran midnight, 1 December
    job = job_named("usage_rollover")
    assert (await fire(job, services, trigger_of(job, services))).ran
    assert (await DeliveryWorker(bot, services).deliver_once()).sent == 1
    text = bot_api.last_message(9100).text
    assert text.startswith("📊 گزارش مصرف «Acme»\nنوامبر ۲۰۲۶ (۲۰۲۶-۱۱-۰۱ تا ۲۰۲۶-۱۱-۳۰)")
    assert "• Blog: ۱ درخواست · ۱٬۵۰۰ توکن · ۲٫۵۰ دلار" in text


def test_a_cost_warning_rounds_what_was_spent_and_shows_the_cap_as_set() -> None:
    odd = {**WARNING, "used": "10.005000", "limit": "12.345000", "percent": 81}
    assert "($10.01 of $12.345)" in render(KIND_LIMIT_WARNING, odd, "en").text
    assert "(۱۰٫۰۱ دلار از ۱۲٫۳۴۵ دلار)" in render(KIND_LIMIT_WARNING, odd, "fa").text
    big = {**WARNING, "used": "1234.5", "limit": "1500", "percent": 82}
    assert "($1,234.50 of $1,500.00)" in render(KIND_LIMIT_WARNING, big, "en").text
