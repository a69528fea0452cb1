"""The main menu by role, /help by role, /cancel from anywhere, and the fallback answer."""

from __future__ import annotations

from telegram import InlineKeyboardButton

from bot import keyboards
from bot.turn import Turn
from core.services.conversations import RESUME
from db.models import Role

# From most to least powerful; a member of several organisations gets their highest role's menu.
_RANK = {Role.ADMIN: 0, Role.EDITOR: 1, Role.WRITER: 2, Role.VIEWER: 3}
_WRITES = frozenset({Role.ADMIN, Role.EDITOR, Role.WRITER})


async def top_role(turn: Turn) -> Role | None:
    """The actor's highest role in any active organisation (``None``: in none)."""
    roles = list(turn.require_actor().roles.values())
    return min(roles, key=_RANK.__getitem__) if roles else None


async def show_home(turn: Turn, *, intro: str | None = None) -> None:
    """The main menu (or why there is none: not linked, or in no organisation)."""
    if turn.actor is None:
        from bot.handlers.link import ask_for_phone

        await ask_for_phone(turn)
        return
    role = await top_role(turn)
    if role is None:
        await turn.say(turn.t("bot.home.no_organization"))
        return
    commands = turn.context.application.bot_data["registry"].commands
    rows: list[list[InlineKeyboardButton]] = []
    if role in _WRITES and "new" in commands:
        rows.append([keyboards.button(turn.t("bot.home.button.new"), "cmd", "new")])
    if role in _WRITES and "drafts" in commands:
        rows.append([keyboards.button(turn.t("bot.home.button.drafts"), "cmd", "drafts")])
    if role is Role.ADMIN:
        rows.append(
            [
                keyboards.button(turn.t(f"bot.home.button.{name}"), "cmd", name)
                for name in ("invite", "members")
                if name in commands
            ]
        )
    if role in (Role.ADMIN, Role.EDITOR) and "usage" in commands:
        rows.append([keyboards.button(turn.t("bot.home.button.usage"), "cmd", "usage")])
    rows.append(
        [
            keyboards.button(turn.t("bot.home.button.language"), "cmd", "language"),
            keyboards.button(turn.t("bot.home.button.help"), "cmd", "help"),
        ]
    )
    text = turn.t(f"bot.home.title.{role.value}")
    await turn.show(f"{intro}\n\n{text}" if intro else text, keyboards.inline(rows))


async def show_help(turn: Turn) -> None:
    """What this person can do here, by their role."""
    if turn.actor is None:
        await turn.say(turn.t("bot.help.unlinked"))
        return
    role = await top_role(turn)
    key = "bot.help.no_organization" if role is None else f"bot.help.{role.value}"
    await turn.say(turn.t(key))


async def cancel(turn: Turn) -> None:
    """Stop whatever is going on and go back to the menu; an interruption (a rejection's
    reason) is cancelled alone, back to the flow it interrupted."""
    if turn.data.get(RESUME):
        await turn.finish_state()
        await turn.say(turn.t("bot.cancelled_resumed"), keyboards.remove())
        await ask_again(turn)
        return
    for hook in turn.context.application.bot_data["registry"].on_cancel:
        await hook(turn)
    had_state = turn.state is not None
    await turn.clear_state()
    await turn.say(
        turn.t("bot.cancelled" if had_state else "bot.nothing_to_cancel"), keyboards.remove()
    )
    if turn.actor is not None:
        await show_home(turn)


async def ask_again(turn: Turn) -> None:
    """After an interruption ended: the resumed flow's question again, when its feature can
    show it (``RESUME_STATES``); else the words before this say the next message continues."""
    step = turn.context.application.bot_data["registry"].resume.get(turn.state or "")
    if step is not None:
        await step(turn)


async def unknown_input(turn: Turn) -> None:
    """A message no state claims: the link flow when not linked, else a hint and the menu."""
    if turn.actor is None:
        if turn.refusal is not None:
            raise turn.refusal
        from bot.handlers.link import unlinked_text

        await unlinked_text(turn)
        return
    await show_home(turn, intro=turn.t("bot.unknown_input"))


async def cancel_button(turn: Turn) -> None:
    await cancel(turn)


COMMANDS = {"menu": show_home, "help": show_help, "cancel": cancel}
CALLBACKS = {"cancel": cancel_button}
DESCRIPTIONS = {
    "menu": "bot.command.menu",
    "help": "bot.command.help",
    "cancel": "bot.command.cancel",
}
