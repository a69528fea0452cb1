"""A member's / menu follows a role change made through the REST API, not only the bot's:
the change writes a ``menu_changed`` outbox row in its transaction and the bot's delivery
worker sets that chat's menu (bot/command_menus.py). Made while no bot runs, it is applied
when the bot starts again."""

from __future__ import annotations

import asyncio

from core.api.app import create_app
from core.container import build_services
from db.models import OutboxMessage, OutboxStatus, Role
from tests.bot.harness import BotHarness, Person
from tests.support.auth import auth_headers

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
            actor=admin.user,
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
