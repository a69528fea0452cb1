"""What the user reads: catalog texts with numbers and dates in the user's own script.

Numbers, money and dates are made by ``core/presentation.py``, which the REST API shares: Persian
readers get Persian digits and Solar Hijri dates, English readers Latin digits and Gregorian
dates. Every text comes from ``core/locales/<lang>/bot.json`` (or the shared error
catalogs), never from a string in a handler.
"""

from __future__ import annotations

from typing import Any

from core.errors import DomainError
from core.i18n import translate
from core.presentation import day, localize, moment, number, usage_limit_message
from core.services.usage import UsageLimitExceeded

__all__ = ["day", "duration", "error_text", "localize", "moment", "number", "t"]


def t(language: str, key: str, /, **params: Any) -> str:
    """The catalog text ``key`` in ``language`` with numeric parameters in the reader's digits."""
    return translate(language, key, **{k: localize(language, v) for k, v in params.items()})


def error_text(language: str, error: DomainError) -> str:
    """The domain error's message with its numbers in the reader's digits."""
    if isinstance(error, UsageLimitExceeded):
        return usage_limit_message(language, error)
    return t(language, f"error.{error.code}", **error.params)


def duration(language: str, seconds: int) -> str:
    """A wait such as "2 min 5 s" / "۲ دقیقه و ۵ ثانیه"."""
    seconds = max(0, int(seconds))
    minutes, rest = divmod(seconds, 60)
    if minutes and rest:
        return t(language, "bot.duration.minutes_seconds", minutes=minutes, seconds=rest)
    if minutes:
        return t(language, "bot.duration.minutes", minutes=minutes)
    return t(language, "bot.duration.seconds", seconds=rest)
