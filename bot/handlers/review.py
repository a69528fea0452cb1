"""Review from chat: the cards' Approve / Reject / Read in full, ``/review`` and ``/reviewchat``.

Cards are outbox rows (``content_submitted``, rendered by ``bot/outbox_render.py`` with the
keyboard registered here); the decision's own transaction writes the rows that edit every copy
(``core/services/notifications.py``). The handler also edits the pressed copy at once, so the
presser sees the outcome without waiting for the delivery worker (whose edit of that copy then
finds it already so).

Callback data (ids only; every press is checked again in ``core`` with the presser as actor):
``rv:a:<content>`` approve, ``rv:r:<content>`` reject (asks for the reason in the presser's
private chat: the next message there, with Cancel), ``rv:f:<content>`` read in full,
``rv:o:<content>`` open a card from ``/review``, ``rv:p:<page>`` a page of ``/review``,
``rv:g:<organization>`` bind this group as the organisation's review group (``/reviewchat off``
in the group unbinds it).

In a group only ``rv`` buttons and ``/reviewchat`` work (see ``GROUP_COMMANDS`` and
``GROUP_CALLBACKS``); the reason and the full text go to the presser's private chat, so a
group never fills with drafts or half-typed reasons.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from telegram import InlineKeyboardMarkup, InputFile
from telegram.constants import ChatType, ParseMode
from telegram.error import Forbidden, TelegramError

from bot import formatting, keyboards
from bot.handlers.generate import GENERATING
from bot.handlers.home import ask_again
from bot.outbox_render import register_keyboard, render
from bot.texts import moment, t
from bot.turn import Turn
from core.errors import Conflict, DomainError, InvalidInput, NotFound
from core.presentation import display_name
from core.services.notifications import KIND_CONTENT_DECIDED, KIND_CONTENT_SUBMITTED
from db.models import Content, ContentStatus, Role

PREFIX = "rv"
REASON = "review.reason"
MAX_ID_DIGITS = 12
# ``/reviewchat off`` sends the cards to each editor again.
OFF_WORDS = frozenset({"off", "خاموش"})


# --- keyboards ------------------------------------------------------------------------------


def card_keyboard(content_id: int, language: str) -> InlineKeyboardMarkup:
    """Approve, Reject, Read in full: the buttons of every review card."""
    return keyboards.inline(
        [
            [
                keyboards.button(t(language, "bot.review.approve"), PREFIX, "a", content_id),
                keyboards.button(t(language, "bot.review.reject"), PREFIX, "r", content_id),
            ],
            [keyboards.button(t(language, "bot.review.read_full"), PREFIX, "f", content_id)],
        ]
    )


def _card_buttons(payload: Mapping[str, Any], language: str) -> InlineKeyboardMarkup | None:
    content_id = payload.get("content_id")
    return card_keyboard(content_id, language) if isinstance(content_id, int) else None


def _writer_buttons(payload: Mapping[str, Any], language: str) -> InlineKeyboardMarkup | None:
    """Under a rejection: Edit (the next message is the new text: the drafts flow) and
    Regenerate (the generate flow). Both answer with new messages, so the reason stays."""
    content_id = payload.get("content_id")
    if payload.get("status") != ContentStatus.REJECTED.value or not isinstance(content_id, int):
        return None
    return keyboards.inline(
        [
            [
                keyboards.button(t(language, "bot.review.writer_edit"), "dr", "b", content_id),
                keyboards.button(
                    t(language, "bot.review.writer_regenerate"), "g", "re", content_id
                ),
            ]
        ]
    )


register_keyboard(KIND_CONTENT_SUBMITTED, _card_buttons)
register_keyboard(KIND_CONTENT_DECIDED, _writer_buttons)


# --- buttons --------------------------------------------------------------------------------


async def on_button(turn: Turn) -> None:
    action, number = _parse(turn.args)
    if action == "p":
        await show_queue(turn, number)
        return
    if action == "g":
        await _bind_group(turn, number)
        return
    step = _CONTENT_ACTIONS.get(action)
    if step is None:
        raise NotFound()
    await step(turn, number)


async def _approve(turn: Turn, content_id: int) -> None:
    actor = turn.require_actor()
    try:
        content = await turn.services.content.approve(actor=actor, content_id=content_id)
    except Conflict as conflict:
        await _refuse_conflict(turn, conflict)
        return
    await turn.ack(turn.t("bot.review.approved_toast"))
    await _close_pressed_card(turn, content, display_name(actor.user))


async def _ask_reason(turn: Turn, content_id: int) -> None:
    """Check the presser could reject now, then ask for the reason in their private chat."""
    actor = turn.require_actor()
    try:
        content = await turn.services.review.check_decidable(actor=actor, content_id=content_id)
    except Conflict as conflict:
        await _refuse_conflict(turn, conflict)
        return
    private_chat = turn.sender.id  # a user's private chat with the bot has the user's id
    message = turn.update.effective_message
    card = {"id": content.id}
    if message is not None and message.text:
        card.update(card_chat=message.chat_id, card_message=message.message_id, card=message.text)
    # Whatever the presser was doing in their private chat waits for the reason (turn.py).
    await turn.services.conversations.interrupt(
        private_chat, turn.sender.id, REASON, card, keep_unless=frozenset({GENERATING})
    )
    cancel = keyboards.inline([[keyboards.button(turn.t("bot.button.cancel"), "cancel")]])
    try:
        await turn.context.bot.send_message(
            private_chat, turn.t("bot.review.ask_reason", title=content.title), reply_markup=cancel
        )
    except Forbidden:  # the presser never opened a private chat: nothing there to keep
        await turn.services.conversations.clear(private_chat, turn.sender.id)
        await turn.ack(turn.t("bot.review.need_private"), alert=True)
        return
    in_group = private_chat != turn.chat_id
    await turn.ack(turn.t("bot.review.reason_in_private") if in_group else None)


async def _tell_resumed(turn: Turn, resumed: bool) -> None:
    if resumed:
        await turn.say(turn.t("bot.review.resumed"))
        await ask_again(turn)


async def reason_given(turn: Turn) -> None:
    """The next private message after Reject: reject with it as the reason."""
    actor = turn.require_actor()
    content_id = int(turn.data.get("id", 0))
    try:
        content = await turn.services.content.reject(
            actor=actor, content_id=content_id, reason=turn.text
        )
    except InvalidInput:
        raise  # a bad reason: the state stays, the next message is tried again
    except Conflict as conflict:
        resumed = await turn.finish_state()
        await turn.say(_conflict_text(turn.language, conflict))
        await _tell_resumed(turn, resumed)
        return
    except DomainError:
        await turn.finish_state()  # removed meanwhile, content gone: nothing to wait for
        raise
    card = dict(turn.data)
    resumed = await turn.finish_state()
    await turn.say(turn.t("bot.review.rejected", title=content.title))
    await _tell_resumed(turn, resumed)
    if card.get("card") and card.get("card_chat") and card.get("card_message"):
        line = _decision_line(turn, content, display_name(actor.user))
        # On failure the outbox's own edit of this copy (if it is one) still comes.
        with contextlib.suppress(TelegramError):
            await turn.context.bot.edit_message_text(
                f"{card['card']}\n\n{line}",
                chat_id=int(card["card_chat"]),
                message_id=int(card["card_message"]),
            )


async def _read_full(turn: Turn, content_id: int) -> None:
    """The whole text, in the presser's private chat: as messages, or a ``.md`` if long."""
    content = await turn.services.content.get(actor=turn.require_actor(), content_id=content_id)
    private_chat = turn.sender.id
    bot = turn.context.bot
    body = content.body.strip() or turn.t("bot.drafts.no_body")
    try:
        if formatting.fits_in_messages(body):
            await bot.send_message(
                private_chat, turn.t("bot.review.full_title", title=content.title)
            )
            for part in formatting.split_paragraphs(body):
                await bot.send_message(
                    private_chat, formatting.as_html(part), parse_mode=ParseMode.HTML
                )
        else:
            await bot.send_document(
                private_chat,
                InputFile(body.encode("utf-8"), filename=f"contexor-{content.id}.md"),
                caption=turn.t("bot.review.full_as_document", title=content.title[:200]),
            )
    except Forbidden:
        await turn.ack(turn.t("bot.review.need_private"), alert=True)
        return
    await turn.ack(turn.t("bot.review.sent_private") if private_chat != turn.chat_id else None)


async def _open(turn: Turn, content_id: int) -> None:
    """A card opened from ``/review``: buttons while in review, the status otherwise."""
    content, payload = await turn.services.review.card(
        actor=turn.require_actor(), content_id=content_id
    )
    text = render(KIND_CONTENT_SUBMITTED, payload, turn.language).text
    back = [
        keyboards.button(turn.t("bot.button.back"), PREFIX, "p", 0),
        keyboards.button(turn.t("bot.button.cancel"), "cancel"),
    ]
    if content.status == ContentStatus.REVIEW:
        markup = card_keyboard(content.id, turn.language)
        markup = InlineKeyboardMarkup([*markup.inline_keyboard, back])
    else:
        status = turn.t(f"bot.status.{ContentStatus(content.status).value}")
        text = f"{text}\n\n{turn.t('bot.review.status', status=status)}"
        markup = keyboards.inline([back])
    await turn.show(text, markup)


_CONTENT_ACTIONS = {"a": _approve, "r": _ask_reason, "f": _read_full, "o": _open}


# --- /review ----------------------------------------------------------------------------------


async def review_command(turn: Turn) -> None:
    await turn.clear_state()
    await show_queue(turn, 0)


async def show_queue(turn: Turn, page_number: int) -> None:
    """What waits for the presser's decision, oldest first, a page of 8."""
    actor = turn.require_actor()
    total, _ = await turn.services.review.queue(actor=actor, limit=1)
    page = keyboards.Page.of(page_number, total)
    _, contents = await turn.services.review.queue(
        actor=actor, offset=page.offset, limit=page.limit
    )
    if not contents:
        await turn.show(
            turn.t("bot.review.queue_empty"),
            keyboards.inline([[keyboards.button(turn.t("bot.button.back"), "cmd", "menu")]]),
        )
        return
    items = [
        (_short(content.title, 48), keyboards.data(PREFIX, "o", content.id)) for content in contents
    ]
    await turn.show(
        turn.t("bot.review.queue_title", count=total),
        keyboards.paged(turn.language, items, page, page_data=(PREFIX, "p"), back=("cmd", "menu")),
    )


# --- /reviewchat --------------------------------------------------------------------------------


async def review_chat_command(turn: Turn) -> None:
    """In a group: an admin makes it their organisation's review group (core checks admin)."""
    chat = turn.update.effective_chat
    if chat is None or chat.type == ChatType.PRIVATE:
        await turn.say(turn.t("bot.review.chat_in_group"))
        return
    if turn.args and turn.args[0].lower() in OFF_WORDS:
        await _unbind_group(turn, chat.id)
        return
    organizations = await turn.services.review.review_chat_choices(actor=turn.require_actor())
    if len(organizations) == 1:
        await _bind_group(turn, organizations[0].id)
        return
    rows = [
        [keyboards.button(organization.name, PREFIX, "g", organization.id)]
        for organization in organizations
    ]
    await turn.say(turn.t("bot.review.chat_pick"), keyboards.inline(rows))


async def _unbind_group(turn: Turn, chat_id: int) -> None:
    unbound = await turn.services.review.unbind_review_chat(
        actor=turn.require_actor(), chat_id=chat_id
    )
    if not unbound:
        await turn.say(turn.t("bot.review.chat_not_bound"))
        return
    names = (
        "، ".join(o.name for o in unbound)
        if turn.language == "fa"
        else ", ".join(o.name for o in unbound)
    )
    await turn.say(turn.t("bot.review.chat_unbound", organizations=names))


async def _bind_group(turn: Turn, organization_id: int) -> None:
    chat = turn.update.effective_chat
    if chat is None or chat.type == ChatType.PRIVATE:
        raise NotFound()
    organization = await turn.services.review.bind_review_chat(
        actor=turn.require_actor(), organization_id=organization_id, chat_id=chat.id
    )
    text = turn.t("bot.review.chat_bound", organization=organization.name)
    if turn.is_button:
        await turn.show(text)
    else:
        await turn.say(text)


# --- helpers ----------------------------------------------------------------------------------


async def _refuse_conflict(turn: Turn, conflict: Conflict) -> None:
    await turn.ack(_conflict_text(turn.language, conflict), alert=True)


def _conflict_text(language: str, conflict: Conflict) -> str:
    """ "Already approved by X" for a lost race; the catalog text for any other state."""
    if conflict.code == "already_decided":
        status = conflict.params.get("current_status")
        key = (
            "bot.review.already_approved"
            if status == ContentStatus.APPROVED.value
            else "bot.review.already_rejected"
        )
        return t(language, key, decided_by=conflict.params.get("decided_by", ""))
    return t(language, f"error.{conflict.code}", **conflict.params)


def _decision_line(turn: Turn, content: Content, decided_by: str) -> str:
    key = (
        "bot.review.card_approved"
        if content.status == ContentStatus.APPROVED
        else "bot.review.card_rejected"
    )
    when = (
        moment(turn.language, content.decided_at, turn.services.settings.zone)
        if content.decided_at
        else "—"
    )
    return turn.t(key, decided_by=decided_by, when=when)


async def _close_pressed_card(turn: Turn, content: Content, decided_by: str) -> None:
    """The pressed card, at once: its text, who decided and when, no buttons."""
    message = turn.update.effective_message
    if message is None or not message.text:
        return
    # Too old or already so: the outbox edit of this copy still comes.
    with contextlib.suppress(TelegramError):
        await message.edit_text(f"{message.text}\n\n{_decision_line(turn, content, decided_by)}")


def _parse(args: list[str]) -> tuple[str, int]:
    """``[action, number]`` from the callback data; anything else is an unknown content."""
    if len(args) != 2 or not args[1].isdigit() or len(args[1]) > MAX_ID_DIGITS:
        raise NotFound()
    return args[0], int(args[1])


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


COMMANDS = {"review": review_command, "reviewchat": review_chat_command}
CALLBACKS = {PREFIX: on_button}
TEXT_STATES = {REASON: reason_given}
DESCRIPTIONS = {"review": "bot.command.review", "reviewchat": "bot.command.reviewchat"}
MENU_ROLES = {"review": Role.EDITOR, "reviewchat": Role.ADMIN}
# What works in a group chat (nothing else does there).
GROUP_COMMANDS = {"reviewchat": review_chat_command}
GROUP_CALLBACKS = frozenset({PREFIX})
