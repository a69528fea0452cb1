"""The admin commands through the real bot: /invite (phone and link), /members, /workspace,
/project, /usage, the / menu by role, and writers refused by ``core``."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from db.models import InviteLink, Membership, Project, Role, UsageLog, User, Workspace
from tests.bot.harness import BotHarness, Person
from tests.support.factories import add_member, make_org

PHONE = "+989121234567"
LINK = re.compile(r"https://t\.me/contexor_test_bot\?start=([A-Za-z0-9_-]{32})")


def chat_menu(harness: BotHarness, person: Person) -> list[str]:
    """The commands of the / menu set for this person's chat."""
    scope = {"type": "chat", "chat_id": person.chat_id}
    return [command["command"] for command in harness.fake.commands(scope)]


async def make_link(harness: BotHarness, admin: Person, role: Role = Role.EDITOR) -> str:
    await admin.send("/invite")
    await admin.press(harness.t(f"bot.admin.role.{role.value}"))
    text = await admin.press(harness.t("bot.admin.invite.button.link"))
    match = LINK.search(text)
    assert match is not None, text
    return match.group(1)


# -- /invite ---------------------------------------------------------------------------------


async def test_invite_link_links_a_new_account_once_then_is_refused(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    token = await make_link(harness, admin, Role.EDITOR)
    assert await InviteLink.filter(organization_id=harness.org.id, used_at=None).count() == 1
    assert not await InviteLink.exists(token_hash=token)  # stored hashed

    newcomer = harness.user()
    assert await newcomer.send(f"/start {token}") == harness.t("bot.link.welcome")
    await newcomer.send("09121234567")
    await newcomer.send(harness.sms_code(PHONE))
    user = await User.get(phone_number=PHONE)
    assert await Membership.exists(user_id=user.id, organization_id=harness.org.id, role="editor")
    assert newcomer.last_text == (
        harness.t("bot.admin.invite.joined", organization=harness.org.name, role="ویراستار")
        + "\n\n"
        + harness.t("bot.home.title.editor")
    )
    # the editor's menu has /usage but no admin command
    assert "usage" in chat_menu(harness, newcomer)
    assert "members" not in chat_menu(harness, newcomer)

    second = harness.user(language="en")
    await second.send(f"/start {token}")
    await second.send("09121230000")
    await second.send(harness.sms_code("+989121230000"))
    assert harness.t("error.invite_used", "en") in second.texts
    late = await User.get(phone_number="+989121230000")
    assert not await Membership.exists(user_id=late.id)
    assert second.last_text == harness.t("bot.home.no_organization", "en")


async def test_expired_invite_link_is_refused(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    token = await make_link(harness, admin, Role.WRITER)
    harness.clock.advance(hours=harness.settings.invite_link_ttl_hours, seconds=1)
    person = await harness.linked_user(role=None)
    await person.send(f"/start {token}")
    assert harness.t("error.invite_expired") in person.texts
    assert not await Membership.exists(user_id=person.user.id)


async def test_already_linked_user_joins_at_once_and_a_member_is_refused(
    harness: BotHarness,
) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    token = await make_link(harness, admin, Role.WRITER)
    member = await harness.linked_user(Role.VIEWER)
    await member.send(f"/start {token}")
    assert harness.t("error.already_member") in member.texts
    assert (await Membership.get(user_id=member.user.id)).role == Role.VIEWER

    outsider = await harness.linked_user(role=None)
    await outsider.send(f"/start {token}")
    assert await Membership.exists(user_id=outsider.user.id, organization_id=harness.org.id)
    assert outsider.last_text.endswith(harness.t("bot.home.title.writer"))
    await outsider.send("/start abc")
    assert harness.t("error.invite_invalid") in outsider.texts


async def test_invite_by_phone_in_persian_digits(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN, language="en")
    await admin.send("/invite")
    await admin.press("Writer")
    await admin.press("📱 By mobile number")
    assert await admin.send("12345") == harness.t("error.invalid_phone", "en")
    text = await admin.send("۰۹۱۲ ۱۲۳ ۴۵۶۷")
    assert text == harness.t("bot.admin.invite.added", "en", phone="09121234567", role="Writer")
    user = await User.get(phone_number=PHONE)
    assert await Membership.exists(user_id=user.id, organization_id=harness.org.id, role="writer")
    assert await admin.send("۰۹۱۲ ۱۲۳ ۴۵۶۷") != text  # the question is closed


async def test_admin_of_two_organisations_chooses_one(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    other = await make_org(name="Second Org")
    await add_member(other, Role.ADMIN, admin.user)
    assert await admin.send("/invite") == harness.t("bot.admin.choose_organization")
    await admin.press("Second Org")
    await admin.press(harness.t("bot.admin.role.viewer"))
    await admin.press(harness.t("bot.admin.invite.button.link"))
    link = await InviteLink.get(organization_id=other.id)
    assert link.role == Role.VIEWER


# -- /members ---------------------------------------------------------------------------------


async def test_members_change_a_role_and_remove(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN, language="en")
    writer = await harness.linked_user(Role.WRITER)
    writer.user.full_name = "Sara"
    await writer.user.save()
    text = await admin.send("/members")
    assert text == harness.t(
        "bot.admin.members.title", "en", organization=harness.org.name, count=2
    )
    assert "Sara · Writer" in admin.buttons
    await admin.press("Sara · Writer")
    assert admin.last_text.startswith("Sara\n")
    await admin.press("Role: Admin")
    assert (await Membership.get(user_id=writer.user.id)).role == Role.ADMIN
    assert admin.last_text.startswith(
        harness.t("bot.admin.members.role_changed", "en", role="Admin")
    )
    assert "members" in chat_menu(harness, writer)  # promoted: the admin menu
    await admin.press("Role: Viewer")
    assert "members" not in chat_menu(harness, writer)
    await admin.press("🗑 Remove from the organisation")
    assert admin.last_text == "Remove “Sara” from the organisation?"
    await admin.press("Yes, remove")
    assert not await Membership.exists(user_id=writer.user.id)
    assert admin.last_text.startswith("“Sara” was removed")


async def test_the_last_admin_cannot_step_down(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    await admin.send("/members")
    await admin.press_data(f"mem:m:{harness.org.id}:{admin.user.id}")
    await admin.press(harness.t("bot.admin.members.button.make", role="نویسنده"))
    assert admin.last_text == harness.t("error.last_admin")
    assert (await Membership.get(user_id=admin.user.id)).role == Role.ADMIN
    await admin.press(harness.t("bot.admin.members.button.remove"))
    await admin.press(harness.t("bot.admin.members.button.remove_yes"))
    assert admin.last_text == harness.t("error.last_admin")
    assert await Membership.exists(user_id=admin.user.id)


# -- /workspace and /project -----------------------------------------------------------------


async def test_workspace_create_and_rename(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN, language="en")
    await admin.send("/workspace")
    await admin.press("➕ New workspace")
    await admin.send("Magazine")
    created = await Workspace.get(organization_id=harness.org.id, name="Magazine")
    assert admin.last_text.startswith("Workspace “Magazine” created.")
    await admin.press("✏️ Magazine")
    await admin.send("Weekly magazine")
    await created.refresh_from_db()
    assert created.name == "Weekly magazine"
    assert admin.last_text.startswith("The workspace is now called “Weekly magazine”.")


async def test_project_create_in_a_workspace_and_rename(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    await admin.send("/project")
    await admin.press(harness.t("bot.admin.project.button.new"))
    await admin.press(harness.workspace.name)
    await admin.send("پروژهٔ پاییز")
    created = await Project.get(workspace_id=harness.workspace.id, name="پروژهٔ پاییز")
    assert admin.last_text.startswith(harness.t("bot.admin.project.created", name="پروژهٔ پاییز"))
    await admin.press("✏️ پروژهٔ پاییز")
    await admin.send("پروژهٔ زمستان")
    await created.refresh_from_db()
    assert created.name == "پروژهٔ زمستان"


# -- /usage -----------------------------------------------------------------------------------


async def test_usage_in_persian_digits_and_dollars(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    writer = await harness.linked_user(Role.WRITER)
    writer.user.full_name = "سارا"
    await writer.user.save()
    for tokens, cost in ((1200, "1.500000"), (34, "0.000450")):
        await UsageLog.create(
            organization=harness.org,
            workspace=harness.workspace,
            user=writer.user,
            model="gpt-4o-mini",
            prompt_tokens=tokens // 2,
            completion_tokens=tokens - tokens // 2,
            total_tokens=tokens,
            cost_usd=Decimal(cost),
            created_at=harness.clock.now() - timedelta(minutes=1),
        )
    text = await admin.send("/usage")
    assert harness.t("bot.admin.usage.total", requests=2, tokens=1234, cost="۱٫۵۰ دلار") in text
    assert "• سارا: ۲ درخواست، ۱٬۲۳۴ توکن، ۱٫۵۰ دلار" in text
    assert f"• {harness.workspace.name}: ۲ درخواست" in text


async def test_usage_of_an_empty_period_in_english(harness: BotHarness) -> None:
    editor = await harness.linked_user(Role.EDITOR, language="en")
    text = await editor.send("/usage")
    assert text.endswith(harness.t("bot.admin.usage.empty", "en"))


# -- refusals ---------------------------------------------------------------------------------


async def test_a_writer_is_refused_every_admin_command(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    writer = await harness.linked_user(Role.WRITER)
    org_id = harness.org.id
    refused = harness.t("error.permission_denied")
    for command in ("/invite", "/members", "/workspace", "/project", "/usage"):
        assert await writer.send(command) == refused, command
    # forged buttons reach core, which refuses them
    await writer.send("/menu")  # a message with buttons to forge on
    await writer.press_data(f"mem:r:{org_id}:{writer.user.id}:admin", forged=True)
    await writer.press_data(f"mem:dy:{org_id}:{admin.user.id}", forged=True)
    await writer.press_data(f"inv:l:{org_id}:admin", forged=True)
    assert writer.toasts[-3:] == [refused] * 3
    assert (await Membership.get(user_id=writer.user.id)).role == Role.WRITER
    assert await Membership.exists(user_id=admin.user.id, role=Role.ADMIN)
    assert not await InviteLink.exists()
    await writer.press_data(f"ws:n:{org_id}", forged=True)
    assert await writer.send("Hacked") == refused
    await writer.send("/menu")
    await writer.press_data(f"pj:w:{harness.workspace.id}", forged=True)
    assert await writer.send("Hacked") == refused
    assert not await Workspace.exists(name="Hacked")
    assert not await Project.exists(name="Hacked")
    assert "invite" not in [c["command"] for c in harness.fake.commands()]


async def test_the_chat_menu_follows_a_language_change(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    await admin.send("/language")
    await admin.press("English")
    scope = {"type": "chat", "chat_id": admin.chat_id}
    menu = harness.fake.commands(scope)
    assert {"command": "invite", "description": harness.t("bot.command.invite", "en")} in menu
    assert {"command": "usage", "description": harness.t("bot.command.usage", "en")} in menu


async def test_the_main_menu_offers_the_admin_commands_by_role(harness: BotHarness) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    writer = await harness.linked_user(Role.WRITER)
    await writer.send("/menu")
    assert harness.t("bot.home.button.members") not in writer.buttons
    assert harness.t("bot.home.button.usage") not in writer.buttons
    await admin.send("/menu")
    text = await admin.press(harness.t("bot.home.button.members"))
    assert text == harness.t("bot.admin.members.title", organization=harness.org.name, count=2)
