"""Development/test SMS: append each message as one JSON line to an outbox file.

Tests and the local playground read codes from the outbox. Writes run in a worker thread so
the event loop never blocks on the disk; an ``asyncio.Lock`` keeps concurrent sends of this
sender from interleaving, and each line is a single ``write`` on an append-mode file.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC
from pathlib import Path

from core.clock import Clock
from core.sms.base import SmsFailed, otp_text
from core.validators.phone import mask_phone

logger = logging.getLogger(__name__)


class FileSmsSender:
    """Appends ``{"to","text","code","at"}`` lines to ``path``."""

    def __init__(self, *, path: Path, clock: Clock | None = None) -> None:
        self._path = path
        self._clock = clock or Clock()
        self._lock = asyncio.Lock()

    async def send_otp(self, *, phone: str, code: str, language: str) -> None:
        """Append the message to the outbox."""
        record = {
            "to": phone,
            "text": otp_text(code, language),
            "code": code,
            "at": self._clock.now().astimezone(UTC).isoformat(),
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        async with self._lock:
            try:
                await asyncio.to_thread(_append_line, self._path, line)
            except OSError as exc:
                raise SmsFailed(reason="outbox_unwritable") from exc
        logger.info("SMS to %s written to %s", mask_phone(phone), self._path)

    async def aclose(self) -> None:
        """Nothing stays open between sends."""


def _append_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as outbox:
        outbox.write(line)
