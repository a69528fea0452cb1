"""The application's one error handler: log it, answer the user in their language.

A ``DomainError`` is an expected refusal (a forged button, a code typed wrong, a limit): it is
logged at INFO and its catalog text is the answer. Anything else is logged with its traceback
and the update id, and the user reads a short apology; never a traceback or an internal id.
"""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import keyboards
from bot.texts import EDIT_KEPT, error_text, t
from bot.turn import pick_language, services_of
from core.errors import DomainError

logger = logging.getLogger("contexor.bot")

# answerCallbackQuery shows at most 200 characters.
_TOAST_LIMIT = 200


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    error = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(error, DomainError):
        logger.info("update %s refused: %s", update_id, error.code)
    else:
        logger.error("update %s failed", update_id, exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    language = await _language(update, context)
    zone = services_of(context).settings.zone
    text = error_text(language, error, zone) if isinstance(error, DomainError) else None
    text = text or t(language, "bot.error.internal")
    if isinstance(error, DomainError) and error.params.get(EDIT_KEPT):
        text = f"{text}\n{t(language, 'bot.unlock.edit_kept')}"
    if isinstance(error, DomainError) and _offers_unlock(error):
        await _say_with_unlock(update, context, text, language, error.params["content_id"])
        return
    try:
        if update.callback_query is not None and len(text) <= _TOAST_LIMIT:
            try:
                await update.callback_query.answer(text, show_alert=True)
                return
            except TelegramError:
                pass  # already answered by the handler: say it in the chat instead
        await context.bot.send_message(update.effective_chat.id, text)
    except TelegramError:
        logger.warning("could not tell the user of update %s about the error", update_id)


def _offers_unlock(error: DomainError) -> bool:
    """An edit, submit or regeneration met the generation lock: offer the way out."""
    return error.code == "content_generating" and isinstance(error.params.get("content_id"), int)


async def _say_with_unlock(
    update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, language: str, content_id: int
) -> None:
    """The lock message as a chat message (a toast holds no button) with the Unlock button.

    Whoever presses it is checked again by ``GenerationService.unlock`` (bot/handlers/drafts.py).
    """
    markup = keyboards.inline(
        [[keyboards.button(t(language, "bot.unlock.button"), "dr", "u", content_id)]]
    )
    try:
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):  # may be answered already
                await update.callback_query.answer()
        await context.bot.send_message(update.effective_chat.id, text, reply_markup=markup)
    except TelegramError:
        logger.warning("could not offer the unlock for update %s", update.update_id)


async def _language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    services = services_of(context)
    sender, chat = update.effective_user, update.effective_chat
    try:
        actor = None
        conversation = None
        if sender is not None and chat is not None:
            actor = await services.telegram.linked_user(sender.id)
            conversation = await services.conversations.get(chat.id, sender.id)
        return pick_language(services, actor, conversation, sender)
    except Exception:  # the database may be what failed; the default language still answers
        logger.warning("no language for update %s; using the default", update.update_id)
        return services.settings.default_language
