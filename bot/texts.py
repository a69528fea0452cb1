"""What the user reads: catalog texts with numbers and dates in the user's own script.

Persian readers get Persian digits and Solar Hijri dates; English readers get Latin digits and
Gregorian dates. Every text comes from ``core/locales/<lang>/bot.json`` (or the shared error
catalogs), never from a string in a handler.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import jdatetime

from core.errors import DomainError
from core.i18n import translate
from core.text.normalize import persian_digits

# A Persian reader sees "۱۴۰۵/۰۹/۰۹ ۱۱:۳۰"; an English one "2026-11-30 11:30".
_FA_MONTHS = (
    "فروردین",
    "اردیبهشت",
    "خرداد",
    "تیر",
    "مرداد",
    "شهریور",
    "مهر",
    "آبان",
    "آذر",
    "دی",
    "بهمن",
    "اسفند",
)


def number(language: str, value: int | float | str) -> str:
    """``value`` with the digits of ``language`` (and Persian separators for fa)."""
    text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
    if language == "fa":
        return persian_digits(text).replace(",", "٬").replace(".", "٫")
    return text


def localize(language: str, value: Any) -> str:
    """Any parameter as shown to the reader: numbers in their digits, others as they are."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return number(language, value)
    return str(value)


def t(language: str, key: str, /, **params: Any) -> str:
    """The catalog text ``key`` in ``language`` with numeric parameters in the reader's digits."""
    return translate(language, key, **{k: localize(language, v) for k, v in params.items()})


def error_text(language: str, error: DomainError) -> str:
    """The domain error's message with its numbers in the reader's digits."""
    return t(language, f"error.{error.code}", **error.params)


def day(language: str, value: date | datetime, zone: ZoneInfo | None = None) -> str:
    """A calendar day: ``۹ آذر ۱۴۰۵`` in Persian, ``30 Nov 2026`` in English."""
    if isinstance(value, datetime) and zone is not None:
        value = value.astimezone(zone)
    plain = value.date() if isinstance(value, datetime) else value
    if language == "fa":
        j = jdatetime.date.fromgregorian(date=plain)
        return f"{number('fa', str(j.day))} {_FA_MONTHS[j.month - 1]} {number('fa', str(j.year))}"
    return f"{plain.day} {plain.strftime('%b %Y')}"


def moment(language: str, value: datetime, zone: ZoneInfo) -> str:
    """A day and a time of day in ``zone``, in the reader's calendar and digits."""
    local = value.astimezone(zone)
    clock = local.strftime("%H:%M")
    if language == "fa":
        return f"{day('fa', local)}، {number('fa', clock)}"
    return f"{day('en', local)}, {clock}"


def duration(language: str, seconds: int) -> str:
    """A wait such as "2 min 5 s" / "۲ دقیقه و ۵ ثانیه"."""
    seconds = max(0, int(seconds))
    minutes, rest = divmod(seconds, 60)
    if minutes and rest:
        return t(language, "bot.duration.minutes_seconds", minutes=minutes, seconds=rest)
    if minutes:
        return t(language, "bot.duration.minutes", minutes=minutes)
    return t(language, "bot.duration.seconds", seconds=rest)
