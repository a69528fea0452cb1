"""Persian input normalisation at the boundary: digits, Arabic letters, stray marks.

Every function here is pure and built on ``str.translate``, so it is cheap enough to run on
every message, and safe to run twice (normalising normalised text changes nothing).
"""

from __future__ import annotations

_PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
_ARABIC_INDIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"

# One character to one character: callers (the PII detector) rely on offsets staying valid.
_DIGIT_MAP = dict(zip(_PERSIAN_DIGITS + _ARABIC_INDIC_DIGITS, "0123456789" * 2, strict=True))
_DIGITS = str.maketrans(_DIGIT_MAP)
_TO_PERSIAN_DIGITS = str.maketrans("0123456789", _PERSIAN_DIGITS)

# Arabic keyboards and copy-pasted Arabic text give these look-alikes of Persian letters.
_LETTERS = {"ي": "ی", "ى": "ی", "ك": "ک"}

# Invisible marks that pasted or mixed-direction text drags along. ZWNJ (U+200C) is NOT here:
# it is part of correct Persian spelling (می‌خواهم). U+200B (zero-width space) and U+061C (Arabic
# letter mark) go with the listed bidi marks because they are the same kind of stray.
_STRAY_MARKS = (
    "\u061c\u200b\u200e\u200f"
    + "".join(map(chr, range(0x202A, 0x202F)))
    + "".join(map(chr, range(0x2066, 0x206A)))
    + "\ufeff"
)

# A None value deletes the character.
_TEXT = str.maketrans({**_DIGIT_MAP, **_LETTERS, **dict.fromkeys(_STRAY_MARKS)})
# Prose keeps the digits its author wrote (۱۴۰۳ stays Persian); NUL goes too, since PostgreSQL
# refuses it in text and JSON and no one means to write it.
_PROSE = str.maketrans({**_LETTERS, **dict.fromkeys(_STRAY_MARKS + "\x00")})


def normalize_digits(s: str) -> str:
    """Return ``s`` with Persian and Arabic-Indic digits replaced by ASCII digits (same length)."""
    return s.translate(_DIGITS)


def persian_digits(s: str) -> str:
    """Return ``s`` with ASCII digits written as Persian digits (the reverse of the above)."""
    return s.translate(_TO_PERSIAN_DIGITS)


def normalize_text(s: str) -> str:
    """Return ``s`` with ASCII digits, Persian yeh and kaf, and without stray direction marks."""
    return s.translate(_TEXT)


def normalize_prose(s: str) -> str:
    """Return ``s`` with Persian yeh and kaf and without stray marks or NUL; digits untouched."""
    return s.translate(_PROSE)
