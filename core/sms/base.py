"""The SMS contract: one call, send a login code; any failure is :class:`SmsFailed` (503)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from core.errors import ServiceUnavailable
from core.i18n import translate


@runtime_checkable
class SmsSender(Protocol):
    """Delivers one-time login codes; one instance per process."""

    async def send_otp(self, *, phone: str, code: str, language: str) -> None:
        """Send ``code`` to ``phone`` (E.164) worded in ``language``; raise SmsFailed."""
        ...

    async def aclose(self) -> None:
        """Release connections and files."""
        ...


class SmsFailed(ServiceUnavailable):
    """The code could not be sent; ``reason`` is a non-secret snake_case cause."""

    code = "sms_failed"

    def __init__(self, *, reason: str, **params: Any) -> None:
        super().__init__(None, reason=reason, **params)
        self.reason = reason


def otp_text(code: str, language: str) -> str:
    """The localised body of a login-code message."""
    return translate(language, "sms.otp", code=code)
