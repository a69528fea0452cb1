"""Bank card numbers (شماره کارت): 16 digits with the Luhn check."""

from __future__ import annotations

LENGTH = 16


def is_valid_card(digits: str) -> bool:
    """Whether ``digits`` (ASCII, no separators) is a 16-digit number that passes Luhn."""
    if len(digits) != LENGTH or not (digits.isascii() and digits.isdigit()):
        return False
    return luhn_checksum(digits) == 0


def luhn_checksum(digits: str) -> int:
    """Return the Luhn sum of ASCII ``digits`` modulo 10 (0 means the number passes)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10
