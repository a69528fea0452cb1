"""/limits through the real bot: the overview with today's and this month's use, a cap set per
scope with buttons and a typed value (every bad value first), Back and Cancel, a restart in the
middle, a writer refused, and forged presses that change nothing in the database."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from bot.texts import number
from core.presentation import money_cap
from db.models import Role, UsageLimit, UsageLog, UsagePeriod, UsageScope
from tests.bot.harness import BotHarness, Person
from tests.support.factories import add_member, make_org, make_workspace
from tests.support.queries import recording_queries


def t(harness: BotHarness, key: str, **params) -> str:
    return harness.t(key, **params)


async def open_scope(harness: BotHarness, admin: Person, label: str) -> None:
    await admin.send("/limits")
    await admin.press(label)


async def test_overview_shows_every_scope_with_use_and_caps_in_persian(
    harness: BotHarness,
) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    writer = await harness.linked_user(Role.WRITER)
    writer.user.full_name = "سارا"
    await writer.user.save()
    await UsageLog.create(
        organization=harness.org,
        workspace=harness.workspace,
        user=writer.user,
        model="gpt-4o-mini",
        prompt_tokens=600,
        completion_tokens=600,
        total_tokens=1200,
        cost_usd=Decimal("1.5"),
        created_at=harness.clock.now() - timedelta(minutes=1),
    )
    await UsageLimit.create(
        organization=harness.org,
        scope=UsageScope.ORGANIZATION,
        scope_id=harness.org.id,
        period=UsagePeriod.DAILY,
        requests_limit=10,
    )
    text = await admin.send("/limits")
    assert text.startswith(t(harness, "bot.limits.title", organization=harness.org.name))
    organization_block = "\n".join(
        [
            t(harness, "bot.limits.scope.organization", name=harness.org.name),
            "روزانه: درخواست ۱ از ۱۰ · توکن ۱٬۲۰۰ (بی‌سقف) · هزینه ۱٫۵۰ دلار (بی‌سقف)",
            "ماهانه: درخواست ۱ (بی‌سقف) · توکن ۱٬۲۰۰ (بی‌سقف) · هزینه ۱٫۵۰ دلار (بی‌سقف)",
        ]
    )
    assert organization_block in text
    # the workspace and the member carry the default monthly budgets of the settings
    for label, budget in (
        (
            t(harness, "bot.limits.scope.workspace", name=harness.workspace.name),
            harness.settings.default_workspace_monthly_budget_usd,
        ),
        ("👤 سارا", harness.settings.default_user_monthly_budget_usd),
    ):
        block = "\n".join(
            [
                label,
                "روزانه: درخواست ۱ (بی‌سقف) · توکن ۱٬۲۰۰ (بی‌سقف) · هزینه ۱٫۵۰ دلار (بی‌سقف)",
                "ماهانه: درخواست ۱ (بی‌سقف) · توکن ۱٬۲۰۰ (بی‌سقف) · هزینه ۱٫۵۰ دلار"
                f" از {money_cap('fa', budget)}",
            ]
        )
        assert block in text
    assert admin.buttons == [
        t(harness, "bot.limits.scope.organization", name=harness.org.name),
        t(harness, "bot.limits.scope.workspace", name=harness.workspace.name),
        "👤 " + number("fa", "0" + admin.user.phone_number[3:]),  # no name: the phone
        "👤 سارا",
        t(harness, "bot.button.cancel"),
    ]


async def test_set_each_metric_with_bad_values_first_then_lift_a_cap(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    org = harness.org
    await open_scope(harness, admin, t(harness, "bot.limits.scope.organization", name=org.name))
    await admin.press(t(harness, "bot.limits.button.period.daily"))
    await admin.press(t(harness, "bot.limits.metric.r"))
    assert admin.last_text.startswith("سقف روزانه تعداد درخواست")
    for bad in ("ده", "-5", "2.5", "۱۲ تا", "۱٬۵"):
        reply = await admin.send(bad)
        assert reply.startswith(t(harness, "bot.limits.bad_value.r")), bad
        assert not await UsageLimit.exists()
    reply = await admin.send("۱٬۲۰۰")
    row = await UsageLimit.get(scope=UsageScope.ORGANIZATION, period=UsagePeriod.DAILY)
    assert (row.requests_limit, row.tokens_limit, row.cost_limit_usd) == (1200, None, None)
    assert reply.startswith(
        t(harness, "bot.limits.saved", metric="تعداد درخواست", period="روزانه", value="۱٬۲۰۰")
    )
    # tokens: 0 is allowed and keeps the request cap
    await admin.press(t(harness, "bot.limits.button.period.daily"))
    await admin.press(t(harness, "bot.limits.metric.t"))
    await admin.send("٠")  # Arabic-Indic zero
    await row.refresh_from_db()
    assert (row.requests_limit, row.tokens_limit) == (1200, 0)
    # cost: a Persian decimal; a second decimal point is refused first
    await admin.press(t(harness, "bot.limits.button.period.daily"))
    await admin.press(t(harness, "bot.limits.metric.c"))
    assert (await admin.send("۲٫۵٫۱")).startswith(t(harness, "bot.limits.bad_value.c"))
    assert (await admin.send("99999999999")).startswith(
        harness.t("error.invalid_limit", field="cost_limit_usd")
    )
    await admin.send("۲٫۵")
    await row.refresh_from_db()
    assert row.cost_limit_usd == Decimal("2.5")
    assert "روزانه: درخواست ۰ از ۱٬۲۰۰ · توکن ۰ از ۰ · هزینه ۰٫۰۰ دلار از ۲٫۵۰ دلار" in (
        admin.last_text
    )
    # lift the request cap with the button
    await admin.press(t(harness, "bot.limits.button.period.daily"))
    await admin.press(t(harness, "bot.limits.metric.r"))
    await admin.press(t(harness, "bot.limits.button.no_cap"))
    await row.refresh_from_db()
    assert (row.requests_limit, row.tokens_limit, row.cost_limit_usd) == (None, 0, Decimal("2.5"))
    # the button of a finished question is stale
    await admin.press_data("lim:n", admin.last_message, forged=True)
    assert admin.toasts[-1] == t(harness, "bot.button_expired")


async def test_a_member_limit_is_written_for_this_organisation_and_keeps_the_budget(
    harness: BotHarness,
) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    writer = await harness.linked_user(Role.WRITER)
    writer.user.full_name = "سارا"
    await writer.user.save()
    await open_scope(harness, admin, "👤 سارا")
    await admin.press(t(harness, "bot.limits.button.period.monthly"))
    await admin.press(t(harness, "bot.limits.metric.t"))
    await admin.send("50000")
    row = await UsageLimit.get(scope=UsageScope.USER, scope_id=writer.user.id)
    assert row.organization_id == harness.org.id and row.period == UsagePeriod.MONTHLY
    assert row.tokens_limit == 50_000
    # the default monthly budget stays in force
    assert row.cost_limit_usd == harness.settings.default_user_monthly_budget_usd


async def test_back_cancel_and_a_restart_while_the_value_is_awaited(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    label = t(harness, "bot.limits.scope.workspace", name=harness.workspace.name)
    await open_scope(harness, admin, label)
    await admin.press(t(harness, "bot.button.back"))
    assert admin.last_text.startswith(t(harness, "bot.limits.title", organization=harness.org.name))
    await admin.press(label)
    await admin.press(t(harness, "bot.limits.button.period.monthly"))
    await admin.press(t(harness, "bot.limits.metric.r"))
    await admin.press(t(harness, "bot.button.back"))  # back to the metrics
    assert admin.last_text.endswith(t(harness, "bot.limits.choose_metric", period="ماهانه"))
    await admin.press(t(harness, "bot.limits.metric.r"))
    await admin.press(t(harness, "bot.button.cancel"))
    assert await admin.send("15") != t(harness, "bot.limits.saved")
    assert not await UsageLimit.exists()

    await admin.send("/limits")
    await admin.press(label)
    await admin.press(t(harness, "bot.limits.button.period.monthly"))
    await admin.press(t(harness, "bot.limits.metric.r"))
    await harness.restart()
    await admin.send("15")
    row = await UsageLimit.get(scope=UsageScope.WORKSPACE, scope_id=harness.workspace.id)
    assert row.requests_limit == 15
    assert row.cost_limit_usd == harness.settings.default_workspace_monthly_budget_usd


async def test_scopes_are_paged(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    for n in range(9):
        await make_workspace(harness.org, name=f"فضای {n}")
    await admin.send("/limits")
    assert "۱/۲" in admin.buttons
    await admin.press(t(harness, "bot.button.next"))
    assert "۲/۲" in admin.buttons
    assert "👤" in admin.last_text  # the members come after the workspaces


async def test_writer_and_editor_are_refused_and_forged_presses_change_nothing(
    harness: BotHarness,
) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    refused = t(harness, "error.permission_denied")
    for role in (Role.WRITER, Role.EDITOR):
        person = await harness.linked_user(role)
        assert await person.send("/limits") == refused
        await person.send("/menu")
        org_id = harness.org.id
        await person.press_data(f"lim:o:{org_id}", forged=True)
        await person.press_data(f"lim:m:{org_id}:o:{org_id}:d:r", forged=True)
        assert person.toasts[-2:] == [refused] * 2
        await person.send("0")  # no question was asked: nothing is written
    # an admin of this organisation forging another organisation's workspace and member
    other = await make_org()
    foreign_workspace = await make_workspace(other)
    stranger = await add_member(other, Role.WRITER)
    await admin.send("/limits")
    org_id = harness.org.id
    for data in (
        f"lim:s:{org_id}:w:{foreign_workspace.id}",
        f"lim:m:{org_id}:w:{foreign_workspace.id}:d:r",
        f"lim:m:{org_id}:u:{stranger.id}:d:r",
        f"lim:m:{org_id}:o:{other.id}:d:r",
        f"lim:m:{other.id}:o:{other.id}:d:r",
        f"lim:m:{other.id}:w:{foreign_workspace.id}:d:r",
    ):
        await admin.press_data(data, forged=True)
        assert admin.toasts[-1] in (t(harness, "error.not_found"), refused), data
        await admin.send("0")
    assert not await UsageLimit.exists()


async def test_an_admin_of_two_organisations_picks_one_first(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    second = await make_org(name="سازمان دوم")
    await add_member(second, Role.ADMIN, admin.user)
    assert await admin.send("/limits") == t(harness, "bot.admin.choose_organization")
    text = await admin.press("سازمان دوم")
    assert text.startswith(t(harness, "bot.limits.title", organization="سازمان دوم"))
    await admin.press(t(harness, "bot.limits.scope.organization", name="سازمان دوم"))
    await admin.press(t(harness, "bot.limits.button.period.monthly"))
    await admin.press(t(harness, "bot.limits.metric.c"))
    await admin.send("۱۰")
    row = await UsageLimit.get()
    assert (row.organization_id, row.scope_id, row.cost_limit_usd) == (
        second.id,
        second.id,
        Decimal(10),
    )


async def test_the_overview_costs_the_same_queries_however_many_scopes(
    harness: BotHarness,
) -> None:
    admin = await harness.linked_user(Role.ADMIN)

    async def overview_queries() -> int:
        with recording_queries() as log:
            await admin.send("/limits")
        # The delivery worker polls the outbox once a second in its own task; its claim may
        # land inside this window and is no part of the overview's cost.
        return sum("outbox_messages" not in statement for statement in log.statements)

    async def used_by_one_more(n: int) -> None:
        workspace = await make_workspace(harness.org, name=f"فضای {n}")
        writer = await add_member(harness.org, Role.WRITER)
        await UsageLimit.create(
            organization=harness.org,
            scope=UsageScope.WORKSPACE,
            scope_id=workspace.id,
            period=UsagePeriod.DAILY,
            requests_limit=n,
        )
        await UsageLog.create(
            organization=harness.org,
            workspace=workspace,
            user=writer,
            model="gpt-4o-mini",
            prompt_tokens=1,
            completion_tokens=1,
            total_tokens=2,
            cost_usd=Decimal("0.01"),
            created_at=harness.clock.now(),
        )

    await used_by_one_more(0)
    await overview_queries()  # warm: the link and conversation rows exist from now on
    few = await overview_queries()
    for n in range(1, 21):
        await used_by_one_more(n)
    assert await overview_queries() == few


async def test_english_texts_of_the_whole_flow(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN, language="en")
    text = await admin.send("/limits")
    assert text.startswith(f"Usage limits of “{harness.org.name}”")
    assert "Daily: requests 0 (no cap) · tokens 0 (no cap) · cost $0.00 (no cap)" in text
    await admin.press(f"🏢 Organisation “{harness.org.name}”")
    await admin.press("Daily limit")
    await admin.press("Requests")
    assert (await admin.send("1,5")).startswith("The request limit is a whole number from 0 up")
    reply = await admin.send("15")
    assert reply.startswith("Daily “Requests” limit is now 15.")
    assert "Daily: requests 0 of 15 · tokens 0 (no cap) · cost $0.00 (no cap)" in reply
