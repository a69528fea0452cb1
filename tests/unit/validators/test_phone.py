"""Phone normalisation to E.164 (and the old system's bugs)."""

from __future__ import annotations

from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.i18n import catalog
from core.validators.phone import is_valid_phone, mask_phone, normalize_phone

E164 = "+989121234567"
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.mark.parametrize(
    "raw",
    [
        "09121234567",
        "9121234567",
        "+989121234567",
        "00989121234567",
        "989121234567",  # country code without "+": the old code made it +98989…
        "0912 123 4567",
        "0912-123-4567",
        "0912.123.4567",
        "(0912) 123 4567",
        "+98 912 123 4567",
        "+98 (912) 123-4567",
        "0098 912 123 4567",
        "98 912 123 4567",
        "+98 0912 123 4567",
        "  09121234567  ",
        "0912\u00a0123\u00a04567",  # no-break spaces
        "0912\u200c123\u200c4567",  # ZWNJ typed between groups on a Persian keyboard
        "۰۹۱۲۱۲۳۴۵۶۷",
        "٠٩١٢١٢٣٤٥٦٧",
        "+۹۸ ۹۱۲ ۱۲۳ ۴۵۶۷",
        "\u200f۰۹۱۲۱۲۳۴۵۶۷\u200e",
        "\u202b0912 123 4567\u202c",
        "\ufeff09121234567",
    ],
)
def test_every_written_form_of_an_iranian_mobile(raw: str) -> None:
    assert normalize_phone(raw) == E164


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+447911123456", "+447911123456"),  # UK mobile
        ("00447911123456", "+447911123456"),
        ("+44 7911 123456", "+447911123456"),
        ("+14155552671", "+14155552671"),  # US: FIXED_LINE_OR_MOBILE
        ("+49 151 12345678", "+4915112345678"),
        ("+989901234567", "+989901234567"),
    ],
)
def test_international_mobiles(raw: str, expected: str) -> None:
    assert normalize_phone(raw, regions=None) == expected
    region = "IR" if expected.startswith("+98") else "GB" if expected.startswith("+44") else None
    if region is None:
        with pytest.raises(InvalidInput) as caught:
            normalize_phone(raw)  # PHONE_REGIONS defaults to Iran only
        assert caught.value.code == "phone_region_not_accepted"


@pytest.mark.parametrize(
    ("raw", "regions", "accepted"),
    [
        ("+1 201 555 0123", {"IR"}, False),
        ("+1 201 555 0123", {"IR", "US"}, True),
        ("+1 201 555 0123", {"CA"}, False),  # +1 is shared; the number's own region decides
        ("0912 123 4567", {"US"}, False),
        ("0912 123 4567", {"IR"}, True),
        ("+49 151 12345678", {"DE"}, True),
    ],
)
def test_only_accepted_regions_pass(raw: str, regions: set[str], accepted: bool) -> None:
    assert is_valid_phone(raw, regions=regions) is accepted
    if not accepted:
        with pytest.raises(InvalidInput) as caught:
            normalize_phone(raw, regions=regions)
        assert caught.value.code == "phone_region_not_accepted"


@pytest.mark.parametrize("raw", ["02112345678", "021 1234 5678", "+982112345678", "03132123456"])
def test_landlines_are_refused_because_sms_cannot_reach_them(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_phone(raw)
    assert caught.value.code == "landline_phone"


def test_landlines_are_accepted_when_not_sending_sms() -> None:
    assert normalize_phone("021 1234 5678", mobile_only=False) == "+982112345678"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "0912",
        "091212345678",  # one digit too many
        "0912123456",  # one digit too few
        "+98912123456",
        "09121234567890123456",
        "0912abc4567",
        "0912-ABC-4567",  # letters are not vanity digits here
        "09121234567 ext 12",
        "+",
        "++989121234567",
        "0912+1234567",
        "1" * 1000,
        "9000000000000000000000000000000",
    ],
)
def test_garbage_is_invalid(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_phone(raw)
    assert caught.value.code == "invalid_phone"


@pytest.mark.parametrize("raw", [9121234567, None, ["09121234567"], {"phone": "0912"}, b"0912"])
def test_non_strings_are_invalid(raw: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_phone(raw)
    assert caught.value.code == "invalid_phone"


def test_bool_is_not_a_phone() -> None:
    with pytest.raises(InvalidInput):
        normalize_phone(True)


def test_is_valid_phone() -> None:
    assert is_valid_phone("0912 123 4567")
    assert not is_valid_phone("02112345678")
    assert is_valid_phone("02112345678", mobile_only=False)
    assert not is_valid_phone("garbage", mobile_only=False)


@pytest.mark.parametrize(("code"), ["invalid_phone", "landline_phone"])
def test_error_messages_exist_in_both_languages(code: str) -> None:
    fa, en = catalog("fa").get(f"error.{code}"), catalog("en").get(f"error.{code}")
    assert fa and en and fa != en


@pytest.mark.parametrize(
    ("e164", "masked"),
    [("+989121234567", "+98912***4567"), ("+14155552671", "+1415***2671"), ("+1234", "*****")],
)
def test_mask_phone(e164: str, masked: str) -> None:
    assert mask_phone(e164) == masked


# --- properties -----------------------------------------------------------------------------

OPERATORS = ["912", "919", "935", "936", "901", "902", "990", "921", "930", "939", "910", "998"]
SEPARATORS = ["", " ", "-", ".", " - ", "\u00a0"]


def _assigned(nsn: str) -> bool:
    """Whether phonenumbers' numbering plan knows +98 ``nsn`` as a mobile (our oracle)."""
    number = phonenumbers.parse("+98" + nsn)
    mobile = phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
    return phonenumbers.is_valid_number(number) and mobile


mobile_numbers = st.builds(
    str.__add__, st.sampled_from(OPERATORS), st.text("0123456789", min_size=7, max_size=7)
).filter(_assigned)


@st.composite
def mobile_forms(draw: st.DrawFn) -> tuple[str, str]:
    """Draw (written form, E.164) of a valid Iranian mobile."""
    nsn = draw(mobile_numbers)
    prefix = draw(st.sampled_from(["0", "", "+98", "0098", "98", "+98 ", "0098 ", "98-", "+98 0"]))
    sep = draw(st.sampled_from(SEPARATORS))
    body = sep.join([nsn[:3], nsn[3:6], nsn[6:]])
    written = draw(st.sampled_from([prefix + body, f"({prefix}{nsn[:3]}) {nsn[3:]}"]))
    script = draw(st.sampled_from([None, PERSIAN, ARABIC_INDIC]))
    if script is not None:
        written = written.translate(script)
    marks = draw(st.sampled_from(["", "\u200f", "\u200e", "\u202b"]))
    return f"{marks}{written}{marks and chr(0x202C)}", "+98" + nsn


@settings(max_examples=200)
@given(mobile_forms())
def test_every_form_over_digit_scripts_and_separators(form: tuple[str, str]) -> None:
    written, e164 = form
    assert normalize_phone(written) == e164


@given(mobile_numbers)
def test_normalising_e164_is_the_identity(nsn: str) -> None:
    assert normalize_phone("+98" + nsn) == "+98" + nsn


@given(st.one_of(st.text(max_size=30), st.integers(), st.none(), st.binary(max_size=10)))
def test_any_input_normalises_or_raises_invalid_input(raw: object) -> None:
    try:
        result = normalize_phone(raw)
    except InvalidInput as exc:
        assert exc.code in {"invalid_phone", "landline_phone"}
    else:
        assert result.startswith("+") and result[1:].isascii() and result[1:].isdigit()


@given(st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True))
def test_mask_hides_the_middle(e164: str) -> None:
    masked = mask_phone(e164)
    assert len(masked) == len(e164)
    assert masked.count("*") >= 3
    assert masked[-4:] == e164[-4:]
