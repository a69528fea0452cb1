"""What the user reads: catalog texts with numbers and dates in the user's own script.

Numbers, money and dates are made by ``core/presentation.py``, which the REST API shares: Persian
readers get Persian digits and Solar Hijri dates, English readers Latin digits and Gregorian
dates. Every text comes from ``core/locales/<lang>/bot.json`` (or the shared error
catalogs), never from a string in a handler.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.errors import DomainError
from core.i18n import translate
from core.presentation import day, localize, moment, number, usage_limit_message
from core.services.usage import UsageLimitExceeded

__all__ = [
    "day",
    "duration",
    "error_text",
    "localize",
    "moment",
    "number",
    "t",
    "unlock_when",
]

# The 409s about the generation lock that core gives an ``unlock_at`` (core/services/unlocking.py).
LOCK_CODES = frozenset({"content_generating", "generation_still_running"})
# Set on a lock refusal whose edit the bot kept for after the unlock (bot/handlers/drafts.py).
EDIT_KEPT = "edit_kept"


def t(language: str, key: str, /, **params: Any) -> str:
    """The catalog text ``key`` in ``language`` with numeric parameters in the reader's digits."""
    return translate(language, key, **{k: localize(language, v) for k, v in params.items()})


def error_text(language: str, error: DomainError, zone: ZoneInfo | None = None) -> str:
    """The domain error's message with its numbers in the reader's digits.

    With ``zone``, a generation-lock 409 says when the author may unlock, in ``zone``'s time.
    """
    if isinstance(error, UsageLimitExceeded):
        return usage_limit_message(language, error)
    if zone is not None and error.code in LOCK_CODES and "unlock_at" in error.params:
        return lock_text(language, error, zone)
    return t(language, f"error.{error.code}", **error.params)


def lock_text(language: str, error: DomainError, zone: ZoneInfo) -> str:
    """A generation-lock 409 with when the author may unlock (now, or a day and time)."""
    unlock_at = datetime.fromisoformat(error.params["unlock_at"])
    retry_after = int(error.params.get("retry_after", 0))
    if error.code == "generation_still_running":
        return t(language, "bot.unlock.too_early", time=moment(language, unlock_at, zone))
    when = unlock_when(language, unlock_at, zone, now=retry_after <= 0)
    return f"{t(language, 'bot.unlock.locked')}\n{when}"


def unlock_when(language: str, unlock_at: datetime, zone: ZoneInfo, *, now: bool) -> str:
    """ "You can unlock now" or "... by <day, time>" in the reader's calendar and digits."""
    if now:
        return t(language, "bot.unlock.now")
    return t(language, "bot.unlock.at", time=moment(language, unlock_at, zone))


def duration(language: str, seconds: int) -> str:
    """A wait such as "2 min 5 s" / "۲ دقیقه و ۵ ثانیه"."""
    seconds = max(0, int(seconds))
    minutes, rest = divmod(seconds, 60)
    if minutes and rest:
        return t(language, "bot.duration.minutes_seconds", minutes=minutes, seconds=rest)
    if minutes:
        return t(language, "bot.duration.minutes", minutes=minutes)
    return t(language, "bot.duration.seconds", seconds=rest)
