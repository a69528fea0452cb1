"""Iranian IBANs (شبا): "IR", two check digits and 22 digits, checked with ISO 7064 mod 97-10."""

from __future__ import annotations

COUNTRY = "IR"
LENGTH = 26  # "IR" + 24 digits
# ISO 13616: letters count as 10 + their position in the alphabet, so I = 18 and R = 27.
_COUNTRY_AS_DIGITS = "1827"


def compact_iban(value: str) -> str:
    """Return ``value`` in upper case without spaces (people write IBANs in groups of four)."""
    return value.replace(" ", "").upper()


def is_valid_iban(value: str) -> bool:
    """Whether ``value`` (ASCII digits; any case; spaces allowed) is an IR IBAN passing mod 97."""
    iban = compact_iban(value)
    digits = iban[2:]
    if len(iban) != LENGTH or not iban.startswith(COUNTRY):
        return False
    if not (digits.isascii() and digits.isdigit()):
        return False
    # Move country and check digits to the end; a valid IBAN then leaves remainder 1.
    return int(digits[2:] + _COUNTRY_AS_DIGITS + digits[:2]) % 97 == 1


def iban_check_digits(bban: str) -> str:
    """Return the two check digits that make ``IR`` + check + ``bban`` (22 digits) valid."""
    return f"{98 - int(bban + _COUNTRY_AS_DIGITS + '00') % 97:02d}"
