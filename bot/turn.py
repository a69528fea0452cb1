"""One update as the handlers see it: who is speaking, in which language, in which state.

Every handler is ``async def step(turn: Turn) -> None``: parse ``turn.text`` / ``turn.args``,
call one ``core`` service with ``turn.actor`` (the linked user's ``Principal``, built once per
update in :func:`load_turn`), render with ``turn.say`` / ``turn.show``. A
``DomainError`` raised by the service reaches the application's one error handler
(``bot/errors.py``), which answers in the user's language.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from telegram import (
    CallbackQuery,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram import User as TelegramUser
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.texts import t
from core.container import Services
from core.errors import DomainError, Unauthenticated
from core.security.principal import Principal
from core.services.conversations import RESUME, Conversation
from core.services.telegram import UpdateStart
from db.models import User

logger = logging.getLogger("contexor.bot")
T = TypeVar("T")

SERVICES = "services"
_START = "contexor_update_start"

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


@dataclass
class Turn:
    """The update, the services, the linked actor's principal (or ``None``), the conversation."""

    update: Update
    context: ContextTypes.DEFAULT_TYPE
    services: Services
    sender: TelegramUser
    chat_id: int
    language: str
    actor: Principal | None
    conversation: Conversation
    # Why ``actor`` is None although the account is linked (a deactivated user).
    refusal: DomainError | None = None
    # Callback data after the feature prefix, or the command's arguments.
    args: list[str] = field(default_factory=list)
    answered: bool = False

    # -- reading the update ----------------------------------------------------------------

    @property
    def text(self) -> str:
        message = self.update.effective_message
        return (message.text or "") if message is not None else ""

    @property
    def is_button(self) -> bool:
        return self.update.callback_query is not None

    @property
    def state(self) -> str | None:
        return self.conversation.state

    @property
    def data(self) -> dict[str, Any]:
        return self.conversation.data

    def t(self, key: str, /, **params: Any) -> str:
        """Catalog text in the user's language, numbers in their digits."""
        return t(self.language, key, **params)

    def require_actor(self) -> Principal:
        """The linked, active user's principal; raises what keeps them out otherwise."""
        if self.actor is not None:
            return self.actor
        raise self.refusal or Unauthenticated("telegram_not_linked")

    async def reload_actor(self) -> Principal:
        """Build the principal again after this update changed the actor's own memberships
        (joined by an invitation, just linked): the one built at the start is a snapshot."""
        self.actor = await self.services.telegram.actor_for_telegram(self.sender.id)
        self.refusal = None
        return self.actor

    # -- state -------------------------------------------------------------------------------

    async def set_state(self, state: str, data: dict[str, Any] | None = None) -> None:
        await self.services.conversations.set(self.chat_id, self.sender.id, state, data)
        self.conversation = Conversation(
            self.chat_id, self.sender.id, state, data or {}, self.conversation.language
        )

    async def finish_state(self) -> bool:
        """End an interruption (``ConversationService.interrupt``): back to the flow it
        interrupted (True) or idle."""
        kept = self.data.get(RESUME)
        resumed = await self.services.conversations.finish(self.chat_id, self.sender.id, self.data)
        language = self.conversation.language
        if resumed:
            state, data = kept["state"], kept["data"]
            self.conversation = Conversation(self.chat_id, self.sender.id, state, data, language)
        else:
            self.conversation = Conversation(self.chat_id, self.sender.id, language=language)
        return resumed

    async def clear_state(self) -> None:
        await self.services.conversations.clear(self.chat_id, self.sender.id)
        self.conversation = Conversation(
            self.chat_id, self.sender.id, language=self.conversation.language
        )

    # -- answering -------------------------------------------------------------------------

    async def say(
        self, text: str, markup: Markup | None = None, *, parse_mode: str | None = None
    ) -> Message:
        """Send a new message to the chat."""
        return await self._with_ack(
            self.context.bot.send_message(
                self.chat_id, text, reply_markup=markup, parse_mode=parse_mode
            )
        )

    async def show(
        self,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        parse_mode: str | None = None,
    ) -> None:
        """Replace the pressed message with ``text`` (a button press), else send a new one."""
        query = self.update.callback_query
        if query is None or query.message is None:
            await self.say(text, markup, parse_mode=parse_mode)
            return
        await self._with_ack(self._edit(query, text, markup, parse_mode))

    async def _edit(
        self,
        query: CallbackQuery,
        text: str,
        markup: InlineKeyboardMarkup | None,
        parse_mode: str | None,
    ) -> None:
        try:
            await query.edit_message_text(text, reply_markup=markup, parse_mode=parse_mode)
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
            # A document, or a message too old to edit: answer with a new message instead.
            await self.context.bot.send_message(
                self.chat_id, text, reply_markup=markup, parse_mode=parse_mode
            )

    async def _with_ack(self, answer: Awaitable[T]) -> T:
        """``answer`` and, for a press not answered yet, its ``answerCallbackQuery`` at once:
        two Bot API calls side by side, not one after the other (the spinner stops as the
        answer arrives). A failed answer raises as before; a failed acknowledgement of a press
        whose answer went out is only logged, since the person has their answer."""
        query = self.update.callback_query
        if query is None or self.answered:
            return await answer
        self.answered = True
        acked, answered = await asyncio.gather(query.answer(), answer, return_exceptions=True)
        if isinstance(answered, BaseException):
            raise answered
        if isinstance(acked, BaseException):
            update_id = self.update.update_id
            logger.warning("could not answer the press of update %s: %s", update_id, acked)
        return answered

    async def ack(self, text: str | None = None, *, alert: bool = False) -> None:
        """Answer the button press once (Telegram stops the spinner); a no-op for messages."""
        query = self.update.callback_query
        if query is None or self.answered:
            return
        self.answered = True
        await query.answer(text, show_alert=alert)


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.application.bot_data[SERVICES]


async def load_turn(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Turn:
    """Gather the services, the linked actor, the language and the conversation."""
    services = services_of(context)
    sender = update.effective_user
    chat = update.effective_chat
    assert sender is not None and chat is not None  # the handlers' filters ensure both
    start = context.__dict__.pop(_START, None)
    if start is not None:  # read with the reachability mark, before the handlers ran
        conversation, actor, refusal = start.conversation, start.actor, start.refusal
    else:
        # Two independent reads on two pooled connections: one round trip of waiting, not two.
        conversation, (actor, refusal) = await asyncio.gather(
            services.conversations.get(chat.id, sender.id),
            _actor(services, sender.id),
        )
    return Turn(
        update=update,
        context=context,
        services=services,
        sender=sender,
        chat_id=chat.id,
        language=pick_language(services, actor, conversation, sender),
        actor=actor,
        conversation=conversation,
        refusal=refusal,
    )


def keep_start(context: ContextTypes.DEFAULT_TYPE, start: UpdateStart) -> None:
    """Hand what ``TelegramLinkService.begin_update`` read at the start of this update (handler
    group -1, bot/delivery.py) to :func:`load_turn`, so it is not read twice. PTB builds one
    context per update and passes it to every handler of it."""
    context.__dict__[_START] = start


async def _actor(
    services: Services, telegram_user_id: int
) -> tuple[Principal | None, DomainError | None]:
    """The linked actor, or why there is none to act as (``None`` when simply not linked)."""
    try:
        return await services.telegram.actor_for_telegram(telegram_user_id), None
    except Unauthenticated as exc:
        return None, (None if exc.code == "telegram_not_linked" else exc)


def pick_language(
    services: Services,
    actor: Principal | User | None,
    conversation: Conversation | None,
    sender: TelegramUser | None,
) -> str:
    """The user's stored choice, else the unlinked chat's choice, else Telegram's, else default."""
    if actor is not None:
        user = actor.user if isinstance(actor, Principal) else actor
        return str(getattr(user.language, "value", user.language))
    if conversation is not None and conversation.language in ("fa", "en"):
        return conversation.language
    code = ((sender.language_code if sender else None) or "")[:2].lower()
    if code in ("fa", "en"):
        return code
    return services.settings.default_language
