"""The application's one error handler: log it, answer the user in their language.

A ``DomainError`` is an expected refusal (a forged button, a code typed wrong, a limit): it is
logged at INFO and its catalog text is the answer. Anything else is logged with its traceback
and the update id, and the user reads a short apology; never a traceback or an internal id.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.texts import error_text, t
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
    text = error_text(language, error) if isinstance(error, DomainError) else None
    text = text or t(language, "bot.error.internal")
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
