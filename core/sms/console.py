"""Development SMS: the message goes to the log instead of a phone."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from core.sms.base import otp_text
from core.validators.phone import mask_phone

logger = logging.getLogger(__name__)

HIDDEN_CODE = "******"
KEPT_MESSAGES = 50


@dataclass(frozen=True, slots=True)
class ConsoleSms:
    """One message the console backend printed instead of sending."""

    phone: str
    code: str


class ConsoleSmsSender:
    """Logs each message; the code and full number only when ``allow_code_in_logs``."""

    def __init__(self, *, allow_code_in_logs: bool) -> None:
        self._allow_code_in_logs = allow_code_in_logs
        # The newest messages, for the development playground's page (never in production).
        self.recent: deque[ConsoleSms] = deque(maxlen=KEPT_MESSAGES)

    async def send_otp(self, *, phone: str, code: str, language: str) -> None:
        """Log the message a phone would have received."""
        # Codes are never logged in production; the number is PII there too.
        if self._allow_code_in_logs:
            logger.info("SMS to %s: %s", phone, otp_text(code, language))
            self.recent.append(ConsoleSms(phone=phone, code=code))
        else:
            logger.info("SMS to %s: %s", mask_phone(phone), otp_text(HIDDEN_CODE, language))

    async def aclose(self) -> None:
        """Nothing to release."""
