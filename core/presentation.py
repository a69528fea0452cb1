"""How the product shows things to a person, for the REST API and the bot alike.

Services return data and domain errors; the words, digits and dates a person reads are made here.
Persian readers get Persian digits and separators and Solar Hijri dates, English readers Latin
digits and Gregorian dates. Money has three faces: :func:`api_money` is the exact decimal string
the API carries (six places), :func:`money` an amount spent as a person reads it (half-up to
cents: ``$1,234.50`` / ``۱٬۲۳۴٫۵۰ دلار``), :func:`money_cap` a configured cap, every digit kept.
Texts come from ``core/locales/<lang>/*.json``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import jdatetime

from core.errors import DomainError
from core.i18n import translate
from core.services.usage.errors import UsageLimitExceeded
from core.services.usage.values import quantize_cost
from core.text.normalize import persian_digits
from core.validators.phone import mask_phone
from db.models import User

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
# The Persian thousands (U+066C) and decimal (U+066B) separators go with the Persian digits.
_PERSIAN_SEPARATORS = str.maketrans(",.", "\u066c\u066b")
_CENT = Decimal("0.01")


# --- digits ---------------------------------------------------------------------------------


def digits(language: str, text: str) -> str:
    """``text`` (a short number or amount) in the digits and separators of ``language``."""
    return persian_digits(text).translate(_PERSIAN_SEPARATORS) if language == "fa" else text


def number(language: str, value: int | float | str) -> str:
    """``value`` with the digits of ``language``; an int gets thousands separators."""
    text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
    return digits(language, text)


def localize(language: str, value: Any) -> str:
    """Any text parameter as shown to the reader: numbers in their digits, others as they are."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return number(language, value)
    return str(value)


# --- money ----------------------------------------------------------------------------------


def api_money(value: Decimal) -> str:
    """A cost as the API carries it: a decimal string with six places (``0.500000``)."""
    return str(quantize_cost(value))


def money(language: str, value: Decimal | int | str) -> str:
    """An amount spent, as a person reads it: ``$1,234.50`` / ``۱٬۲۳۴٫۵۰ دلار``.

    The one rule for money spent, wherever a person sees it (the bot's /usage and /limits, the
    scheduler's period report and limit warnings): rounded half-up to whole cents, the way a
    bill or a receipt rounds (banker's rounding would make ``$0.125`` read ``$0.12`` here and
    ``$0.13`` on an invoice), with thousands separators in both languages (Persian digits and
    separators in fa). Every amount in a report then has the same two places, so columns of
    amounts read alike. A non-zero amount that rounds to nothing is "under $0.01" rather than
    ``$0.00`` (which reads as free) or ``$0.00045`` (a precision no other amount has). The
    stored cost keeps six places; :func:`api_money` is what the API carries.
    """
    amount = Decimal(str(value))
    cents = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    if amount > 0 and cents == 0:
        return translate(language, "money.under_a_cent", amount=_dollars(language, _CENT))
    return _dollars(language, cents)


def money_cap(language: str, value: Decimal | int | str) -> str:
    """A configured cap, shown exactly: every digit the admin set (``$12.345``), at least cents.

    A cap is a number a person typed and compares against; rounding it would show a limit that
    is not the one in force (a cap of ``$0.004`` is not "under $0.01", and ``$12.345`` is not
    ``$12.35``). Whole and round caps still read as money: ``$12.00``, ``$12.50``.
    """
    amount = Decimal(str(value))
    cents = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    return _dollars(language, cents if cents == amount else amount.normalize())


def _dollars(language: str, amount: Decimal) -> str:
    """``amount`` as written (thousands separated) in the reader's digits, with the currency."""
    return translate(language, "usage.amount.cost", amount=digits(language, f"{amount:,f}"))


# --- dates ----------------------------------------------------------------------------------


def day(language: str, value: date | datetime, zone: ZoneInfo | None = None) -> str:
    """A calendar day: ``۹ آذر ۱۴۰۵`` in Persian (Solar Hijri), ``30 Nov 2026`` in English."""
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


# --- people ---------------------------------------------------------------------------------


def display_name(user: User | None) -> str:
    """A person's name for other members: full name, else the phone with its middle masked."""
    if user is None:
        return "?"
    if user.full_name:
        return user.full_name
    return mask_phone(user.phone_number)


# --- errors ---------------------------------------------------------------------------------


def usage_limit_message(language: str, error: UsageLimitExceeded) -> str:
    """E.g. "The monthly cost limit of the workspace ($0.50) has been reached."."""
    if error.metric == "cost":
        shown = money_cap(language, quantize_cost(error.limit))
    else:
        shown = translate(
            language, f"usage.amount.{error.metric}", amount=number(language, int(error.limit))
        )
    return translate(
        language,
        "usage.limit_exceeded",
        scope=translate(language, f"usage.scope.{error.scope.value}"),
        period=translate(language, f"usage.period.{error.period.value}"),
        kind=translate(language, f"usage.kind.{error.metric}"),
        limit=shown,
    )


def error_message(language: str, error: DomainError) -> str:
    """The text of a domain error in ``language``, as the API's error envelope carries it."""
    if isinstance(error, UsageLimitExceeded):
        return usage_limit_message(language, error)
    return error.message(language)
