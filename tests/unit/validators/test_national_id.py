"""Iranian national id checksum."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from core.validators.national_id import is_valid_national_id

# Checked by hand: remainder >= 2 (check = 11 - r), remainder 1 and remainder 0 (check = r).
VALID = ["0499370899", "0084575948", "0013542419", "0790419904", "1234567891", "0100000010"]


@pytest.mark.parametrize("digits", VALID)
def test_valid_ids(digits: str) -> None:
    assert is_valid_national_id(digits)


@pytest.mark.parametrize(
    "digits",
    [
        "0499370898",  # wrong check digit
        "0499370890",
        *[str(d) * 10 for d in range(10)],  # repeated digits pass the sum but are never issued
        "049937089",  # too short
        "04993708990",  # too long
        "",
        "049937089x",
        "۰۴۹۹۳۷۰۸۹۹",  # callers normalise first; this function takes ASCII digits only
        "0499 370899",
    ],
)
def test_invalid_ids(digits: str) -> None:
    assert not is_valid_national_id(digits)


def test_short_ids_are_padded_only_when_asked() -> None:
    assert not is_valid_national_id("84575948")
    assert is_valid_national_id("84575948", allow_short=True)
    assert is_valid_national_id("499370899", allow_short=True)
    assert not is_valid_national_id("1234567", allow_short=True)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_exactly_one_check_digit_completes_a_body(body: str) -> None:
    assume(len(set(body)) > 1)
    assert len([d for d in "0123456789" if is_valid_national_id(body + d)]) == 1
