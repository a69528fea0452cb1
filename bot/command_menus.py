"""The / menu of one person's chat, fitted to their highest role.

``bot/runtime.py`` publishes the default menu (no role-reserved command); each linked person's
private chat gets its own menu (``BotCommandScopeChat``) when they link, join by an invitation,
or their role changes, so a writer never sees the admins' commands. The menu is a convenience
only: every command still asks ``core``, which decides by role.

A role changed through the bot refreshes the menu at once (:func:`refresh_menu`). Any change of
membership, by the bot or the REST API in any process, also writes a ``menu_changed`` outbox row
in its transaction; the bot's delivery worker runs :func:`menu_actions` for it, so the menu
follows even when the change was made where no bot runs, and a crash loses nothing.
"""

from __future__ import annotations

import logging

from telegram import Bot, BotCommandScopeChat
from telegram.error import TelegramError

from bot.app import bot_commands
from bot.delivery import DeliveryAction
from bot.handlers import Registry
from bot.turn import Turn
from core.container import Services
from core.errors import Unauthenticated
from core.security.principal import load_principal
from core.services.notifications import KIND_MENU_CHANGED
from core.services.outbox import Delivery
from core.services.permissions import ROLE_RANK
from db.models import Role, User

logger = logging.getLogger("contexor.bot")


async def highest_role(services: Services, user: User) -> Role | None:
    """The user's highest role in any active organisation (``None``: in none or inactive).

    Read afresh: the user may be another person whose role was just changed.
    """
    try:
        principal = await load_principal(user)
    except Unauthenticated:
        return None
    roles = list(principal.roles.values())
    return max(roles, key=ROLE_RANK.__getitem__) if roles else None


async def publish_menu(bot: Bot, registry: Registry, services: Services, user: User) -> None:
    """Set the / menu of every chat where ``user`` is linked (best effort: logged on failure)."""
    chat_ids = await services.telegram.chat_ids_of(user.id)
    if not chat_ids:
        return
    commands = await _commands_of(registry, services, user)
    for chat_id in chat_ids:
        try:
            await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id))
        except TelegramError as exc:
            logger.warning("could not set the command menu of a chat: %s", exc)


async def _commands_of(registry: Registry, services: Services, user: User):
    role = await highest_role(services, user)
    language = str(getattr(user.language, "value", user.language))
    return bot_commands(registry, language, role)


def menu_actions(bot: Bot, registry: Registry, services: Services) -> dict[str, DeliveryAction]:
    """The delivery worker's action for ``menu_changed`` rows: set that chat's menu again from
    the person's roles as they are now (so rows applied late or twice still end right).
    Telegram's errors are raised: the worker retries or gives up by its own table."""
    timeout = services.settings.outbox_send_timeout_seconds

    async def refresh(delivery: Delivery) -> None:
        user = await User.get_or_none(id=delivery.message.user_id)
        if user is None or delivery.chat_id is None:
            return
        await bot.set_my_commands(
            await _commands_of(registry, services, user),
            scope=BotCommandScopeChat(delivery.chat_id),
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
        )

    return {KIND_MENU_CHANGED: refresh}


async def refresh_menu(turn: Turn, user: User | int) -> None:
    """``publish_menu`` for ``user`` (or the user with that id) from inside a handler."""
    if isinstance(user, int):
        found = await User.get_or_none(id=user)
        if found is None:
            return
        user = found
    registry = turn.context.application.bot_data["registry"]
    await publish_menu(turn.context.bot, registry, turn.services, user)
