"""IR IBANs (شبا) with the ISO 7064 mod 97-10 check."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.validators.iban import compact_iban, iban_check_digits, is_valid_iban

VALID = ["IR062960000000100324200001", "IR820540102680020817909002"]


@pytest.mark.parametrize(
    "value",
    [
        *VALID,
        "ir062960000000100324200001",
        "IR06 2960 0000 0010 0324 2000 01",
        "ir82 0540 1026 8002 0817 9090 02",
    ],
)
def test_valid_ibans(value: str) -> None:
    assert is_valid_iban(value)


@pytest.mark.parametrize(
    "value",
    [
        "IR072960000000100324200001",  # wrong check digits
        "IR062960000000100324200002",  # a changed digit
        "IR123456789012345678901234",
        "IR06296000000010032420000",  # 23 digits
        "IR0629600000001003242000011",
        "DE89370400440532013000",  # valid German IBAN, not Iranian
        "XX062960000000100324200001",
        "IR06296000000010032420000x",
        "IR۰۶۲۹۶۰۰۰۰۰۰۰۱۰۰۳۲۴۲۰۰۰۰۱",  # callers normalise digits first
        "",
    ],
)
def test_invalid_ibans(value: str) -> None:
    assert not is_valid_iban(value)


def test_compact_iban() -> None:
    assert compact_iban("ir06 2960 0000 0010 0324 2000 01") == VALID[0]


def test_check_digits_of_a_known_iban() -> None:
    assert iban_check_digits("2960000000100324200001") == "06"


@given(st.text(alphabet="0123456789", min_size=22, max_size=22))
def test_computed_check_digits_make_a_valid_iban(bban: str) -> None:
    assert is_valid_iban(f"IR{iban_check_digits(bban)}{bban}")


@given(
    st.sampled_from(VALID),
    st.integers(min_value=2, max_value=25),
    st.integers(min_value=1, max_value=9),
)
def test_any_single_digit_change_is_detected(iban: str, position: int, delta: int) -> None:
    changed = str((int(iban[position]) + delta) % 10)
    assert not is_valid_iban(iban[:position] + changed + iban[position + 1 :])
