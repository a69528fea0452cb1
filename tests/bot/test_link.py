"""Linking a Telegram account by phone and SMS code, through the real bot."""

from __future__ import annotations

from db.models import Membership, Role, TelegramLink, User
from tests.bot.harness import BotHarness
from tests.support.factories import add_member, make_org, make_user, principal_for
from tests.support.sms import wrong_code

PHONE = "+989121234567"


async def test_start_offers_the_contact_button(harness: BotHarness) -> None:
    person = harness.user()
    text = await person.send("/start")
    assert text == harness.t("bot.link.welcome")
    assert person.reply_keyboard == [harness.t("bot.link.share_button")]
    # polling mode removes any webhook first; the / menu is published in both languages
    assert harness.fake.calls_to("deleteWebhook")
    assert {"command": "start", "description": harness.t("bot.command.start")} in (
        harness.fake.commands()
    )
    assert {"command": "drafts", "description": harness.t("bot.command.drafts", "en")} in (
        harness.fake.commands(language_code="en")
    )


async def test_link_by_shared_contact(harness: BotHarness) -> None:
    org = await make_org()
    await add_member(org, Role.WRITER, await make_user(phone=PHONE))
    person = harness.user()
    await person.send("/start")
    text = await person.share_contact("989121234567")
    assert text == harness.t("bot.link.code_sent", phone="۰۹۱۲۱۲۳۴۵۶۷", minutes=5)
    await person.send(harness.sms_code(PHONE))
    link = await TelegramLink.get(telegram_user_id=person.id).select_related("user")
    assert link.user.phone_number == PHONE
    assert harness.t("bot.link.done") in person.texts
    assert person.last_text == harness.t("bot.home.title.writer")


async def test_someone_elses_contact_is_refused(harness: BotHarness) -> None:
    person = harness.user()
    await person.send("/start")
    text = await person.share_contact(PHONE, own=False)
    assert text == harness.t("bot.link.not_your_contact")
    assert not (harness.settings.sms_outbox.exists())


async def test_typed_phone_in_persian_digits_and_a_wrong_code(harness: BotHarness) -> None:
    person = harness.user()
    await person.send("/start")
    await person.send("۰۹۱۲ ۱۲۳ ۴۵۶۷")
    code = harness.sms_code(PHONE)
    text = await person.send(wrong_code(code))
    assert text == harness.t("error.invalid_code", remaining_attempts=4)
    # Persian digits with spaces are fine
    persian = "".join("۰۱۲۳۴۵۶۷۸۹"[int(d)] for d in code)
    await person.send(f"{persian[:3]} {persian[3:]}")
    assert await TelegramLink.exists(telegram_user_id=person.id)
    # linked but in no organisation: told an admin must invite them
    assert person.last_text == harness.t("bot.home.no_organization")


async def test_expired_code_offers_a_new_one_after_the_cooldown(harness: BotHarness) -> None:
    person = harness.user()
    await person.send("/start")
    await person.send("09121234567")
    code = harness.sms_code(PHONE)
    harness.clock.advance(seconds=30)
    await harness.services.auth.verify_phone(PHONE, code, client_address=None)  # spent elsewhere
    text = await person.send(code)
    wait = harness.t("bot.duration.seconds", seconds=30)
    assert text == (
        harness.t("bot.link.code_expired") + "\n" + harness.t("bot.link.new_code_after", wait=wait)
    )
    text = await person.press(harness.t("bot.link.button.new_code"))
    assert person.toasts[-1] == harness.t("bot.link.new_code_after", wait=wait)
    harness.clock.advance(seconds=31)
    await person.press(harness.t("bot.link.button.new_code"))
    new_code = harness.sms_code(PHONE)
    assert new_code != code or len(harness.settings.sms_outbox.read_text().splitlines()) == 2
    await person.send(new_code)
    assert await TelegramLink.exists(telegram_user_id=person.id)


async def test_phone_linked_to_another_account_is_a_conflict(harness: BotHarness) -> None:
    first = await harness.linked_user(phone=PHONE)
    other = harness.user()
    await other.send("/start")
    text = await other.send("09121234567")
    assert text == harness.t("error.phone_linked_elsewhere")
    assert await TelegramLink.filter(user_id=first.user.id).count() == 1


async def test_invitation_takes_effect_when_the_phone_links(harness: BotHarness) -> None:
    org = await make_org()
    admin = await add_member(org, Role.ADMIN)
    await harness.services.organizations.invite_member(
        actor=await principal_for(admin),
        organization_id=org.id,
        phone_number="09121234567",
        role=Role.EDITOR,
    )
    person = harness.user()
    await person.send("09121234567")  # typed without /start
    await person.send(harness.sms_code(PHONE))
    user = await User.get(phone_number=PHONE)
    assert await Membership.exists(user_id=user.id, organization_id=org.id, role=Role.EDITOR)
    assert person.last_text == harness.t("bot.home.title.editor")


async def test_logout_unlinks(harness: BotHarness) -> None:
    person = await harness.linked_user()
    assert await person.send("/logout") == harness.t("bot.link.logged_out")
    assert not await TelegramLink.exists(telegram_user_id=person.id)
    assert await person.send("/drafts") is not None


async def test_inactive_user_is_refused(harness: BotHarness) -> None:
    person = await harness.linked_user()
    person.user.is_active = False
    await person.user.save()
    assert await person.send("/start") == harness.t("error.user_inactive")
