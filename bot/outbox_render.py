"""Outbox rows as Telegram messages, in the recipient's language.

Kinds and payload keys come from ``core/services/notifications.py``; texts from
``core/locales/{fa,en}/outbox.json`` (the scheduler's kinds: ``bot/outbox_render_scheduled.py``).
Messages are plain text (no parse mode), so names and titles people typed are shown as they are
and can never break the markup.

A feature that wants buttons under a kind of message (the review card's Approve / Reject /
Read in full) registers a keyboard builder with :func:`register_keyboard`; the builder gets the
payload and the recipient's language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardMarkup
from telegram.constants import MessageLimit

from bot.outbox_render_scheduled import render_scheduled
from bot.texts import moment
from core.i18n import translate
from core.services.notifications import (
    KIND_CONTENT_DECIDED,
    KIND_CONTENT_SUBMITTED,
    KIND_GENERATION_FINISHED,
    KIND_MEMBER_INVITED,
    KIND_REVIEW_CARD_DECIDED,
)

UTC_ZONE = ZoneInfo("UTC")

KeyboardBuilder = Callable[[Mapping[str, Any], str], InlineKeyboardMarkup | None]
_KEYBOARDS: dict[str, KeyboardBuilder] = {}


class UnknownKind(ValueError):
    """A row of a kind this build cannot render (written by a newer version)."""


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    reply_markup: InlineKeyboardMarkup | None = None


def register_keyboard(kind: str, builder: KeyboardBuilder) -> None:
    """Put ``builder``'s keyboard under every message of ``kind`` (the last one registered wins)."""
    _KEYBOARDS[kind] = builder


def render(
    kind: str, payload: Mapping[str, Any], language: str, *, zone: ZoneInfo = UTC_ZONE
) -> Rendered:
    """The message for one row (times in ``zone``); ``UnknownKind`` when ``kind`` has no text.

    An edit kind (``review_card_decided``) renders the whole new text of the message it edits,
    without buttons."""
    text = _text(kind, payload, language, zone)
    if len(text) > MessageLimit.MAX_TEXT_LENGTH:
        text = text[: MessageLimit.MAX_TEXT_LENGTH - 1] + "…"
    builder = _KEYBOARDS.get(kind)
    return Rendered(text=text, reply_markup=None if builder is None else builder(payload, language))


def decided_card_text(payload: Mapping[str, Any], language: str, zone: ZoneInfo) -> str:
    """A review card after the decision: the card, then who decided and when."""
    card = _text(KIND_CONTENT_SUBMITTED, payload, language, zone)
    key = (
        "bot.review.card_approved"
        if payload.get("status") == "approved"
        else "bot.review.card_rejected"
    )
    raw_when = payload.get("decided_at")
    when = moment(language, datetime.fromisoformat(raw_when), zone) if raw_when else "—"
    return f"{card}\n\n{translate(language, key, decided_by=payload.get('decided_by'), when=when)}"


def _text(kind: str, payload: Mapping[str, Any], language: str, zone: ZoneInfo) -> str:
    p = dict(payload)
    if kind == KIND_CONTENT_SUBMITTED:
        return translate(language, "outbox.content_submitted", **p).rstrip()
    if kind == KIND_REVIEW_CARD_DECIDED:
        return decided_card_text(payload, language, zone)
    if kind == KIND_CONTENT_DECIDED:
        key = (
            "outbox.content_approved"
            if p.get("status") == "approved"
            else "outbox.content_rejected"
        )
        return translate(language, key, **{**p, "reason": p.get("reason") or "—"})
    if kind == KIND_MEMBER_INVITED:
        role = translate(language, f"outbox.role.{p.get('role')}")
        return translate(language, "outbox.member_invited", **{**p, "role": role})
    if kind == KIND_GENERATION_FINISHED:
        if p.get("ok"):
            return translate(language, "outbox.generation_succeeded", **p)
        error = translate(language, f"error.{p.get('error') or 'generation_failed'}")
        return translate(language, "outbox.generation_failed", **{**p, "error": error})
    scheduled = render_scheduled(kind, p, language)
    if scheduled is not None:
        return scheduled
    raise UnknownKind(kind)
