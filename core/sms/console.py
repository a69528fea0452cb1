"""Development SMS: the message goes to the log instead of a phone."""

from __future__ import annotations

import logging

from core.sms.base import otp_text
from core.validators.phone import mask_phone

logger = logging.getLogger(__name__)

HIDDEN_CODE = "******"


class ConsoleSmsSender:
    """Logs each message; the code and full number only when ``allow_code_in_logs``."""

    def __init__(self, *, allow_code_in_logs: bool) -> None:
        self._allow_code_in_logs = allow_code_in_logs

    async def send_otp(self, *, phone: str, code: str, language: str) -> None:
        """Log the message a phone would have received."""
        # Codes are never logged in production; the number is PII there too.
        if self._allow_code_in_logs:
            logger.info("SMS to %s: %s", phone, otp_text(code, language))
        else:
            logger.info("SMS to %s: %s", mask_phone(phone), otp_text(HIDDEN_CODE, language))

    async def aclose(self) -> None:
        """Nothing to release."""
