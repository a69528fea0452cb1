"""Phone numbers: every way people type an Iranian mobile, to one E.164 string.

Numbers are judged by ``phonenumbers`` (region IR), never by a hand-made pattern; this module
only removes separators and fixes the two prefixes the library cannot guess. The system this
replaces accepted landlines and read ``0098…`` and ``98…`` as ``+98989…``;
both are handled here.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import NewType

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType

from core.errors import InvalidInput
from core.text.normalize import normalize_text

PhoneE164 = NewType("PhoneE164", str)

IRAN_CODE = 98
_MAX_INPUT = 64  # longer input is garbage; also bounds the work done on it
# Spaces of every kind, ASCII and typographic dashes, dots, parentheses, and ZWNJ (which
# normalize_text keeps because it belongs inside Persian words, not inside numbers).
_SEPARATORS = re.compile(r"[\s\-.()\u200c\u2010-\u2015\u2212]")
_DIGITS = re.compile(r"\+?[0-9]{4,17}")
# A mobile elsewhere may be typed FIXED_LINE_OR_MOBILE (e.g. the US); Iran's plan separates them.
_FOREIGN_MOBILE = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
# The PHONE_REGIONS default: who signs in or is invited unless the operator says otherwise.
DEFAULT_REGIONS: frozenset[str] = frozenset({"IR"})


def normalize_phone(
    raw: object, *, mobile_only: bool = True, regions: Collection[str] | None = DEFAULT_REGIONS
) -> PhoneE164:
    """Return ``raw`` as E.164, or raise ``InvalidInput``.

    Codes: ``invalid_phone``, ``landline_phone``, and ``phone_region_not_accepted`` for a valid
    number of a region outside ``regions`` (ISO 3166 codes; ``None`` accepts every region, which
    only PII detection wants: a foreign number is still personal data).
    """
    number = _parse(_clean(raw))
    if regions is not None and phonenumbers.region_code_for_number(number) not in regions:
        raise InvalidInput("phone_region_not_accepted")
    if mobile_only and not _is_mobile(number):
        raise InvalidInput("landline_phone")  # an SMS (the OTP) cannot reach it
    return PhoneE164(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def is_valid_phone(
    raw: str, *, mobile_only: bool = True, regions: Collection[str] | None = DEFAULT_REGIONS
) -> bool:
    """Whether ``normalize_phone`` accepts ``raw``."""
    try:
        normalize_phone(raw, mobile_only=mobile_only, regions=regions)
    except InvalidInput:
        return False
    return True


def mask_phone(e164: str) -> str:
    """Return ``e164`` with its middle digits starred, e.g. ``+98912***4567``.

    The one masking of a phone number: logs, SMS backends, and members who may not see another
    member's number (only admins do) all use it.
    """
    head = max(0, min(6, len(e164) - 7))  # always hide at least three characters
    tail = 4 if len(e164) > 7 else 0
    return e164[:head] + "*" * (len(e164) - head - tail) + e164[len(e164) - tail :]


def _clean(raw: object) -> str:
    """Return ``raw`` as ``+digits`` or national ``digits``, or raise ``invalid_phone``."""
    if not isinstance(raw, str) or len(raw) > _MAX_INPUT:
        raise InvalidInput("invalid_phone")
    cleaned = _SEPARATORS.sub("", normalize_text(raw))
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]  # the international call prefix used in Iran
    elif cleaned.startswith("98") and len(cleaned) in (12, 13):
        # "98912…" (or "980912…") has the country code without "+": no Iranian national
        # number is that long, so it cannot be read the other way.
        cleaned = "+" + cleaned
    if not _DIGITS.fullmatch(cleaned):
        raise InvalidInput("invalid_phone")
    return cleaned


def _parse(cleaned: str) -> PhoneNumber:
    """Return the valid number ``cleaned`` denotes (national form read as Iranian)."""
    try:
        number = phonenumbers.parse(cleaned, "IR")
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput("invalid_phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput("invalid_phone")
    return number


def _is_mobile(number: PhoneNumber) -> bool:
    """Whether an SMS can be expected to reach ``number``."""
    kind = phonenumbers.number_type(number)
    if number.country_code == IRAN_CODE:
        return kind == PhoneNumberType.MOBILE
    return kind in _FOREIGN_MOBILE
