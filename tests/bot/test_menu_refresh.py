"""A member's / menu follows a role change made through the REST API, not only the bot's:
the change writes a ``menu_changed`` outbox row in its transaction and the bot's delivery
worker sets that chat's menu (bot/command_menus.py). Made while no bot runs, it is applied
when the bot starts again."""

from __future__ import annotations

import asyncio

from telegram import Bot

from bot.command_menus import menu_actions
from bot.delivery import DeliveryWorker
from bot.handlers import load_registry
from core.api.app import create_app
from core.clock import FrozenClock
from core.container import Services, build_services
from db.models import OutboxMessage, OutboxStatus, Role, TelegramLink
from tests.bot.harness import BotHarness, Person
from tests.fakes.bot_api import FakeBotApi
from tests.support.auth import auth_headers
from tests.support.factories import add_member, make_org, principal_for

WAIT_SECONDS = 10  # a bound on a hang, not a speed assertion: the worker polls every second


def chat_menu(harness: BotHarness, person: Person) -> list[str]:
    scope = {"type": "chat", "chat_id": person.chat_id}
    return [command["command"] for command in harness.fake.commands(scope)]


async def menu_settled(harness: BotHarness, person: Person) -> list[str]:
    """The chat's menu once every ``menu_changed`` row of ``person`` was delivered."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            # The worker settles rows in the database: nothing in this process to wait on.
            pending = await OutboxMessage.filter(
                user_id=person.user.id, kind="menu_changed", status__not=OutboxStatus.SENT
            ).exists()
            if not pending:
                return chat_menu(harness, person)
            await asyncio.sleep(0.05)


async def test_a_role_changed_through_the_api_reaches_the_menu(
    harness: BotHarness, aiohttp_client
) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    writer = await harness.linked_user(Role.WRITER)
    api = await aiohttp_client(create_app(harness.services))
    headers = await auth_headers(harness.services, admin.user)
    member = f"/api/organizations/{harness.org.id}/members/{writer.user.id}"

    answer = await api.patch(member, json={"role": "admin"}, headers=headers)
    assert answer.status == 200, await answer.text()
    assert await OutboxMessage.filter(user_id=writer.user.id, kind="menu_changed").count() == 1
    menu = await menu_settled(harness, writer)
    assert {"members", "limits", "prompt"} <= set(menu)

    answer = await api.patch(member, json={"role": "editor"}, headers=headers)
    assert answer.status == 200
    menu = await menu_settled(harness, writer)
    assert "prompt" in menu and "members" not in menu and "limits" not in menu

    answer = await api.delete(member, headers=headers)
    assert answer.status == 204
    menu = await menu_settled(harness, writer)
    assert not {"prompt", "usage", "members"} & set(menu)


async def test_a_change_made_while_no_bot_runs_is_applied_when_it_starts(
    harness: BotHarness,
) -> None:
    admin = await harness.linked_user(Role.ADMIN)
    viewer = await harness.linked_user(Role.VIEWER)
    await harness.stop()
    rest_only = build_services(harness.settings, clock=harness.clock)  # a --no-bot process
    try:
        await rest_only.organizations.change_role(
            actor=await principal_for(admin.user),
            organization_id=harness.org.id,
            user_id=viewer.user.id,
            role=Role.EDITOR,
        )
    finally:
        await rest_only.aclose()
    assert "usage" not in chat_menu(harness, viewer)
    await harness.start()
    assert "usage" in await menu_settled(harness, viewer)
    assert await OutboxMessage.filter(user_id=viewer.user.id, kind="menu_changed").count() == 1


async def test_a_failed_menu_update_is_retried_like_a_message(
    bot: Bot, bot_api: FakeBotApi, services: Services, clock: FrozenClock
) -> None:
    org = await make_org()
    admin = await add_member(org, Role.ADMIN)
    writer = await add_member(org, Role.WRITER)
    await TelegramLink.create(user=writer, telegram_user_id=7001, chat_id=7001)
    bot_api.add_user(7001)
    await services.organizations.change_role(
        actor=await principal_for(admin),
        organization_id=org.id,
        user_id=writer.id,
        role=Role.EDITOR,
    )
    worker = DeliveryWorker(bot, services, menu_actions(bot, load_registry(), services))
    bot_api.fail_next("setMyCommands", 500)

    assert (await worker.deliver_once()).retried == 1
    assert bot_api.commands({"type": "chat", "chat_id": 7001}) == []
    clock.advance(seconds=services.settings.outbox_backoff_seconds)
    assert (await worker.deliver_once()).sent == 1
    menu = [c["command"] for c in bot_api.commands({"type": "chat", "chat_id": 7001})]
    assert "usage" in menu and "members" not in menu
    assert not bot_api.calls_to("sendMessage")  # a menu change is not a message
