"""Language, help and the menu by role, /cancel, and the reader's digits and calendar."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.texts import day, moment, number
from db.models import Role, User
from tests.bot.harness import BotHarness
from tests.support.factories import make_content


async def test_language_is_stored_on_the_user(harness: BotHarness) -> None:
    person = await harness.linked_user(Role.WRITER)
    await person.send("/language")
    await person.press("English")
    assert (await User.get(id=person.user.id)).language == "en"
    assert person.last_text.startswith(harness.t("bot.language.changed", "en"))
    assert harness.t("bot.home.title.writer", "en") in person.last_text
    assert await person.send("/help") == harness.t("bot.help.writer", "en")


async def test_language_before_linking_is_kept_for_the_chat(harness: BotHarness) -> None:
    person = harness.user(language="fa")
    await person.send("/language")
    await person.press_data("lang:en")
    assert await person.send("/start") == harness.t("bot.link.welcome", "en")


async def test_menu_and_help_follow_the_role(harness: BotHarness) -> None:
    writer = await harness.linked_user(Role.WRITER)
    viewer = await harness.linked_user(Role.VIEWER)
    await writer.send("/menu")
    assert harness.t("bot.home.button.drafts") in writer.buttons
    await viewer.send("/menu")
    assert viewer.last_text == harness.t("bot.home.title.viewer")
    assert harness.t("bot.home.button.drafts") not in viewer.buttons
    assert await viewer.send("/help") == harness.t("bot.help.viewer")
    nobody = await harness.linked_user(role=None)
    assert await nobody.send("/menu") == harness.t("bot.home.no_organization")


async def test_cancel_leaves_an_edit(harness: BotHarness) -> None:
    writer = await harness.linked_user(Role.WRITER)
    content = await make_content(harness.project, writer.user, title="Keep")
    await writer.send("/drafts")
    await writer.press(f"Keep · {harness.t('bot.status.draft')}")
    await writer.press(harness.t("bot.drafts.button.edit_title"))
    await writer.send("/cancel")
    assert harness.t("bot.cancelled") in writer.texts
    await writer.send("Not a title")
    await content.refresh_from_db()
    assert content.title == "Keep"
    assert await writer.send("/cancel") != harness.t("bot.cancelled")


async def test_unknown_text_gets_the_menu(harness: BotHarness) -> None:
    writer = await harness.linked_user(Role.WRITER)
    text = await writer.send("سلام")
    assert text.startswith(harness.t("bot.unknown_input"))


def test_persian_digits_and_solar_hijri_dates() -> None:
    moment_utc = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    tehran = ZoneInfo("Asia/Tehran")
    assert day("fa", moment_utc, tehran) == "۹ آذر ۱۴۰۵"
    assert day("en", moment_utc, tehran) == "30 Nov 2026"
    assert moment("fa", moment_utc, tehran) == "۹ آذر ۱۴۰۵، ۱۱:۳۰"
    assert moment("en", moment_utc, tehran) == "30 Nov 2026, 11:30"
    assert number("fa", 12345) == "۱۲٬۳۴۵"
    assert number("en", 12345) == "12,345"
