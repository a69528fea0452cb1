"""Card numbers: 16 digits with Luhn."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.validators.card import is_valid_card, luhn_checksum

VALID = ["4111111111111111", "5555555555554444", "6037990000000006", "6219861234567898"]


@pytest.mark.parametrize("digits", VALID)
def test_valid_cards(digits: str) -> None:
    assert is_valid_card(digits)


@pytest.mark.parametrize(
    "digits",
    [
        "6037991234567890",  # fails Luhn
        "4111111111111112",
        "411111111111111",  # 15 digits
        "41111111111111110",  # 17 digits
        "4111 1111 1111 1111",  # callers strip separators first
        "۴۱۱۱۱۱۱۱۱۱۱۱۱۱۱۱",
        "",
    ],
)
def test_invalid_cards(digits: str) -> None:
    assert not is_valid_card(digits)


def test_luhn_checksum_of_the_textbook_example() -> None:
    assert luhn_checksum("79927398713") == 0
    assert luhn_checksum("79927398710") == 7


@given(
    st.sampled_from(VALID),
    st.integers(min_value=0, max_value=15),
    st.integers(min_value=1, max_value=9),
)
def test_any_single_digit_change_is_detected(card: str, position: int, delta: int) -> None:
    changed = str((int(card[position]) + delta) % 10)
    assert not is_valid_card(card[:position] + changed + card[position + 1 :])
