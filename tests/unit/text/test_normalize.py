"""Persian normalisation: digits, Arabic letters, stray marks (docs/architecture.md §4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.text.normalize import normalize_digits, normalize_text

PERSIAN = "۰۱۲۳۴۵۶۷۸۹"
ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩"
STRAY = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
ZWNJ = "\u200c"
ARABIC_LOOKALIKES = "يىك"

# Text made mostly of the characters these functions care about, plus anything else.
interesting = st.text(
    alphabet=st.sampled_from(PERSIAN + ARABIC_INDIC + STRAY + ZWNJ + ARABIC_LOOKALIKES + "سلام a1 ")
    | st.characters(),
    max_size=60,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("۰۹۱۲۳۴۵۶۷۸۹", "09123456789"),
        ("٠٩١٢٣٤٥٦٧٨٩", "09123456789"),
        ("سال ۱۴۰۳ و ٢٠٢٤", "سال 1403 و 2024"),
        ("plain 0123", "plain 0123"),
        ("علي", "علي"),  # digits only: letters untouched
    ],
)
def test_normalize_digits(raw: str, expected: str) -> None:
    assert normalize_digits(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("علي", "علی"),  # Arabic yeh
        ("مصطفى", "مصطفی"),  # alef maksura
        ("كتاب", "کتاب"),  # Arabic kaf
        ("\u200f۰۹۱۲\u200e", "0912"),
        ("\ufeffسلام\u202b", "سلام"),
        ("\u2067متن\u2069", "متن"),
        ("می\u200cخواهم", "می\u200cخواهم"),  # ZWNJ belongs to the word
        ("Hello, World 42", "Hello, World 42"),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@given(interesting)
def test_normalize_digits_keeps_length_and_leaves_no_eastern_digits(s: str) -> None:
    out = normalize_digits(s)
    assert len(out) == len(s)  # the PII detector relies on offsets surviving
    assert not set(out) & set(PERSIAN + ARABIC_INDIC)
    changed = [(a, b) for a, b in zip(s, out, strict=True) if a != b]
    assert all(a in PERSIAN + ARABIC_INDIC and b.isascii() and b.isdigit() for a, b in changed)


@given(st.text(alphabet="0123456789", min_size=1, max_size=18), st.sampled_from([0, 1]))
def test_normalize_digits_reads_the_same_number(ascii_digits: str, script: int) -> None:
    eastern = (PERSIAN, ARABIC_INDIC)[script]
    written = ascii_digits.translate(str.maketrans("0123456789", eastern))
    assert normalize_digits(written) == ascii_digits


@given(interesting)
def test_normalize_text_is_idempotent_and_clean(s: str) -> None:
    out = normalize_text(s)
    assert normalize_text(out) == out
    assert not set(out) & set(PERSIAN + ARABIC_INDIC + STRAY + ARABIC_LOOKALIKES)
    assert out.count(ZWNJ) == s.count(ZWNJ)
    assert len(out) == len(s) - sum(s.count(mark) for mark in STRAY + "\u200b\u061c")


def test_prose_keeps_its_digits_but_fixes_letters_marks_and_nul() -> None:
    from core.text.normalize import normalize_prose

    assert normalize_prose("سال ۱۴۰۳ و 2024\u200f كتاب\x00 علي") == "سال ۱۴۰۳ و 2024 کتاب علی"
    assert normalize_prose("می\u200cخواهم") == "می\u200cخواهم"  # ZWNJ is spelling


def test_persian_digits_reverses_normalize_digits() -> None:
    from core.text.normalize import normalize_digits, persian_digits

    assert persian_digits("1403-09") == "۱۴۰۳-۰۹"
    assert normalize_digits(persian_digits("0123456789")) == "0123456789"
