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
    money_cap,
    number,
)
from core.services.usage import UsageLimitExceeded
from db.models import UsagePeriod, UsageScope, User

TEHRAN = ZoneInfo("Asia/Tehran")


def test_numbers_take_the_readers_digits_and_separators() -> None:
    assert number("en", 1234567) == "1,234,567"
    assert number("fa", 1234567) == "۱٬۲۳۴٬۵۶۷"
    assert number("fa", "0.50") == "۰٫۵۰"


def test_the_api_carries_six_places() -> None:
    assert api_money(Decimal("0.5")) == "0.500000"


def test_an_amount_spent_rounds_half_up_to_cents_with_thousands_in_both_languages() -> None:
    assert money("en", Decimal("1234.5")) == "$1,234.50"
    assert money("fa", Decimal("1234.5")) == "۱٬۲۳۴٫۵۰ دلار"
    assert money("en", Decimal("1234567.891")) == "$1,234,567.89"
    assert money("fa", Decimal("1234567.891")) == "۱٬۲۳۴٬۵۶۷٫۸۹ دلار"
    # half-up, as a bill rounds (banker's rounding would give $0.12 and $2.00)
    assert money("en", Decimal("0.125")) == "$0.13"
    assert money("en", Decimal("2.005")) == "$2.01"
    assert money("fa", Decimal("2.005")) == "۲٫۰۱ دلار"
    assert money("en", Decimal("2.004999")) == "$2.00"
    assert money("en", Decimal("0.005")) == "$0.01"
    assert money("en", 3) == "$3.00"
    assert money("en", "12.346") == "$12.35"


def test_nothing_spent_is_zero_and_a_tiny_amount_is_under_a_cent() -> None:
    assert money("en", Decimal(0)) == "$0.00"
    assert money("fa", Decimal(0)) == "۰٫۰۰ دلار"
    assert money("en", Decimal("0.0004")) == "under $0.01"  # not "$0.00": it was not free
    assert money("fa", Decimal("0.0004")) == "کمتر از ۰٫۰۱ دلار"
    assert money("en", Decimal("0.004999")) == "under $0.01"


def test_a_cap_is_shown_exactly_as_set_in_both_languages() -> None:
    assert money_cap("en", Decimal("12.345")) == "$12.345"  # not rounded to $12.35
    assert money_cap("fa", Decimal("12.345000")) == "۱۲٫۳۴۵ دلار"  # stored with six places
    assert money_cap("en", Decimal("0.000400")) == "$0.0004"
    assert money_cap("en", Decimal("2500")) == "$2,500.00"
    assert money_cap("fa", Decimal("2500.5")) == "۲٬۵۰۰٫۵۰ دلار"
    assert money_cap("en", Decimal("1234567.125")) == "$1,234,567.125"
    assert money_cap("en", Decimal("0")) == "$0.00"


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
