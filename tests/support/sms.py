"""Reading login codes back from the file SMS backend's outbox (JSON lines)."""

from __future__ import annotations

import json

from core.settings import Settings


def sent_messages(settings: Settings) -> list[dict[str, str]]:
    """Every message the file backend wrote, oldest first."""
    if not settings.sms_outbox.exists():
        return []
    lines = settings.sms_outbox.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def last_code(settings: Settings, phone: str) -> str:
    """The newest code sent to ``phone`` (E.164)."""
    codes = [m["code"] for m in sent_messages(settings) if m["to"] == phone]
    assert codes, f"no code was sent to {phone}"
    return codes[-1]


def wrong_code(code: str) -> str:
    """A code that differs from ``code`` in every position."""
    return "".join(str((int(digit) + 1) % 10) for digit in code)
