"""Keyboards: inline buttons whose callback data carries ids only, and paged pickers.

Callback data is ``<feature>:<action>[:<id>…]``, at most 64 bytes (Telegram's limit, checked
here so a long id fails in our code, not at Telegram). It is only a hint of what was pressed:
every handler re-checks it through a ``core`` service with the presser as the actor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.texts import number, t

MAX_CALLBACK_BYTES = 64
PAGE_SIZE = 8


def data(*parts: object) -> str:
    """Join ``parts`` into callback data; refuses anything over Telegram's 64 bytes."""
    text = ":".join(str(part) for part in parts)
    if not 1 <= len(text.encode()) <= MAX_CALLBACK_BYTES or any(":" in str(p) for p in parts):
        raise ValueError(f"bad callback data {text!r}")
    return text


def button(label: str, *parts: object) -> InlineKeyboardButton:
    """An inline button with callback data ``parts``."""
    return InlineKeyboardButton(label, callback_data=data(*parts))


def inline(rows: Sequence[Sequence[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([list(row) for row in rows if row])


@dataclass(frozen=True)
class Page:
    """Which slice of ``total`` items one page shows."""

    number: int  # 0-based
    count: int  # pages in all (at least 1)
    offset: int
    limit: int = PAGE_SIZE

    @classmethod
    def of(cls, requested: int, total: int, size: int = PAGE_SIZE) -> Page:
        count = max(1, math.ceil(total / size))
        current = min(max(0, requested), count - 1)
        return cls(number=current, count=count, offset=current * size, limit=size)


def paged(
    language: str,
    items: Sequence[tuple[str, str]],
    page: Page,
    *,
    page_data: Sequence[object],
    back: Sequence[object] | None = None,
    cancel: bool = True,
) -> InlineKeyboardMarkup:
    """One button per item (label, callback data), then ◀ n/m ▶, then Back and Cancel.

    ``page_data`` is the callback prefix of a page turn; the page number is appended.
    """
    rows: list[list[InlineKeyboardButton]] = [
        [InlineKeyboardButton(label, callback_data=item_data)] for label, item_data in items
    ]
    if page.count > 1:
        nav = []
        if page.number > 0:
            nav.append(button(t(language, "bot.button.previous"), *page_data, page.number - 1))
        nav.append(
            button(
                f"{number(language, page.number + 1)}/{number(language, page.count)}",
                *page_data,
                page.number,
            )
        )
        if page.number + 1 < page.count:
            nav.append(button(t(language, "bot.button.next"), *page_data, page.number + 1))
        rows.append(nav)
    last = []
    if back is not None:
        last.append(button(t(language, "bot.button.back"), *back))
    if cancel:
        last.append(button(t(language, "bot.button.cancel"), "cancel"))
    rows.append(last)
    return inline(rows)


def share_phone(language: str) -> ReplyKeyboardMarkup:
    """The reply keyboard with the "share my phone number" contact button."""
    return ReplyKeyboardMarkup(
        [[KeyboardButton(t(language, "bot.link.share_button"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def remove() -> ReplyKeyboardRemove:
    return ReplyKeyboardRemove()
