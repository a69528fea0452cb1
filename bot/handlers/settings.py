"""/language: Persian or English, stored on the user (or on the chat before linking)."""

from __future__ import annotations

from bot import keyboards
from bot.command_menus import refresh_menu
from bot.turn import Turn
from core.errors import InvalidInput


async def show_language(turn: Turn) -> None:
    await turn.say(
        turn.t("bot.language.choose"),
        keyboards.inline(
            [
                [
                    keyboards.button("فارسی", "lang", "fa"),
                    keyboards.button("English", "lang", "en"),
                ]
            ]
        ),
    )


async def choose(turn: Turn) -> None:
    language = turn.args[0] if len(turn.args) == 1 else ""
    if language not in ("fa", "en"):
        raise InvalidInput("unsupported_language")
    if turn.actor is not None:
        user = await turn.services.preferences.set_language(actor=turn.actor, language=language)
        await refresh_menu(turn, user)
    else:
        await turn.services.conversations.set_language(turn.chat_id, turn.sender.id, language)
    turn.language = language
    if turn.actor is None:
        await turn.show(turn.t("bot.language.changed"))
        return
    from bot.handlers.home import show_home

    await show_home(turn, intro=turn.t("bot.language.changed"))


COMMANDS = {"language": show_language}
CALLBACKS = {"lang": choose}
DESCRIPTIONS = {"language": "bot.command.language"}
