"""Builds the process's one SMS sender from the settings."""

from __future__ import annotations

from core.clock import Clock
from core.errors import ConfigurationError
from core.settings import Settings, SmsBackend
from core.sms.base import SmsSender
from core.sms.console import ConsoleSmsSender
from core.sms.file import FileSmsSender
from core.sms.kavenegar import KavenegarSmsSender


def build_sms_sender(settings: Settings, *, clock: Clock | None = None) -> SmsSender:
    """The sender ``settings.sms_backend`` names; close it with ``aclose()``."""
    if settings.sms_backend is SmsBackend.FILE:
        return FileSmsSender(path=settings.sms_outbox, clock=clock)
    if settings.sms_backend is SmsBackend.KAVENEGAR:
        if settings.kavenegar_api_key is None:
            raise ConfigurationError("sms_not_configured")
        return KavenegarSmsSender(
            api_key=settings.kavenegar_api_key,
            template=settings.kavenegar_otp_template,
            base_url=settings.kavenegar_base_url,
            timeout_seconds=settings.sms_timeout_seconds,
        )
    return ConsoleSmsSender(allow_code_in_logs=not settings.is_production)
