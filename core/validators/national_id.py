"""Iranian national id (کد ملی) checksum."""

from __future__ import annotations

LENGTH = 10


def is_valid_national_id(digits: str, *, allow_short: bool = False) -> bool:
    """Whether ``digits`` (ASCII) is a national id with a correct check digit.

    ``allow_short`` left-pads 8 or 9 digits with zeros, for forms that dropped leading zeros.
    """
    if allow_short and 8 <= len(digits) < LENGTH:
        digits = digits.zfill(LENGTH)
    if len(digits) != LENGTH or not (digits.isascii() and digits.isdigit()):
        return False
    if len(set(digits)) == 1:  # 0000000000 … 9999999999 pass the checksum but are never issued
        return False
    return int(digits[-1]) == check_digit(digits[:-1])


def check_digit(body: str) -> int:
    """Return the check digit of the first nine digits of a national id."""
    remainder = sum(int(d) * (LENGTH - i) for i, d in enumerate(body)) % 11
    return remainder if remainder < 2 else 11 - remainder
