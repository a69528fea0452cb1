"""The shared presentation: digits, money, dates, names and the usage refusal in fa and en."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from core.presentation import (
    api_money,
    day,
    display_name,
    error_message,
    moment,
    money,
    number,
)
from core.services.usage import UsageLimitExceeded
from db.models import UsagePeriod, UsageScope, User

TEHRAN = ZoneInfo("Asia/Tehran")


def test_numbers_take_the_readers_digits_and_separators() -> None:
    assert number("en", 1234567) == "1,234,567"
    assert number("fa", 1234567) == "۱٬۲۳۴٬۵۶۷"
    assert number("fa", "0.50") == "۰٫۵۰"


def test_api_money_is_six_places_and_reader_money_drops_noise() -> None:
    assert api_money(Decimal("0.5")) == "0.500000"
    assert money("en", Decimal("1234.5")) == "$1,234.50"
    assert money("fa", Decimal("1234.5")) == "۱٬۲۳۴٫۵۰ دلار"
    assert money("en", Decimal("0.00045")) == "$0.00045"  # under a cent is not zero
    assert money("en", Decimal("12.346")) == "$12.35"  # a report rounds dollars to cents
    assert money("en", Decimal("12.346"), exact=True) == "$12.346"  # a cap keeps its digits


def test_dates_are_solar_hijri_in_persian_and_gregorian_in_english() -> None:
    at = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)

    assert day("en", at, TEHRAN) == "30 Nov 2026"
    assert day("fa", at, TEHRAN) == "۹ آذر ۱۴۰۵"
    assert moment("en", at, TEHRAN) == "30 Nov 2026, 11:30"
    assert moment("fa", at, TEHRAN) == "۹ آذر ۱۴۰۵، ۱۱:۳۰"


def test_a_person_without_a_name_shows_as_the_masked_phone() -> None:
    assert display_name(User(phone_number="+989121234567", full_name="سارا")) == "سارا"
    assert display_name(User(phone_number="+989121234567")) == "+98912***4567"
    assert display_name(None) == "?"


def test_the_usage_refusal_is_worded_from_its_data() -> None:
    refusal = UsageLimitExceeded(
        scope=UsageScope.USER,
        period=UsagePeriod.DAILY,
        kind="tokens",
        limit=1000,
        resets_at=datetime(2026, 12, 1, tzinfo=UTC),
    )

    assert refusal.params == {"scope": "user", "period": "daily", "kind": "tokens", "limit": 1000}
    assert error_message("en", refusal) == (
        "The daily token limit of your account (1,000 tokens) has been reached."
    )
    assert error_message("fa", refusal) == "توکن‌های روزانهٔ حساب شما (۱٬۰۰۰ توکن) به سقف رسیده است."
