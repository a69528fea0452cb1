"""Kavenegar ``verify/lookup`` over aiohttp (the official SDK is synchronous and has no timeout).

Decisions:

- ``receptor`` is the E.164 number without its plus (``989121234567``); Kavenegar accepts that
  international form as well as the local ``09…`` one, and it needs no Iran-only rewriting.
- The body decides: the response is always parsed as JSON and succeeds only when
  ``return.status == 200``, whatever the HTTP status; a non-JSON body is a gateway error.
- No retries, not even on a connection error: the request may have reached Kavenegar before
  the connection died, and a second OTP SMS costs money and confuses the user, who can press
  "resend" after the cooldown instead.
- The API key sits in the URL path, and aiohttp error messages may quote the URL. It is never
  logged, never in ``repr``, and transport errors are re-raised as a masked copy outside the
  ``except`` block, so neither ``__cause__`` nor ``__context__`` carries the original.
- The message wording is the Kavenegar template's; ``language`` cannot change it.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import quote

import aiohttp
from pydantic import SecretStr

from core.sms.base import SmsFailed
from core.validators.phone import mask_phone

logger = logging.getLogger(__name__)

MASK = "***"
_E164 = re.compile(r"\+?[1-9]\d{7,14}", re.ASCII)

# Kavenegar's return.status codes we can name; any other is "gateway_error".
STATUS_REASONS: dict[int, str] = {
    400: "invalid_request",
    401: "account_disabled",
    403: "invalid_api_key",
    411: "invalid_receptor",
    412: "invalid_sender",
    413: "invalid_message",
    418: "insufficient_credit",
    422: "invalid_characters",
    424: "template_not_found",
    426: "plan_required",
    428: "call_not_possible",
    431: "invalid_token",
    432: "template_token_missing",
    451: "too_many_requests",
    501: "test_account_restricted",
}


class KavenegarTransportError(Exception):
    """A masked stand-in for an aiohttp error, kept as ``__cause__`` for debugging."""


class KavenegarSmsSender:
    """Sends login codes through a Kavenegar verify template."""

    def __init__(
        self, *, api_key: SecretStr, template: str, base_url: str, timeout_seconds: float
    ) -> None:
        self._api_key = api_key
        self._template = template
        self._base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"KavenegarSmsSender(base_url={self._base_url!r}, template={self._template!r})"

    async def send_otp(self, *, phone: str, code: str, language: str) -> None:
        """Send ``code`` through the template; raise SmsFailed with a reason otherwise."""
        form = {
            "receptor": _receptor(phone),
            "template": self._template,
            "token": code,
            "type": "sms",
        }
        http_status, body = await self._post(form)
        gateway_status = _gateway_status(body)
        if gateway_status != 200:
            reason = STATUS_REASONS.get(gateway_status or 0, "gateway_error")
            logger.warning(
                "Kavenegar refused the OTP to %s: http=%s return.status=%s (%s)",
                mask_phone(phone),
                http_status,
                gateway_status,
                reason,
            )
            raise SmsFailed(reason=reason, **_status_param(gateway_status))
        logger.info("OTP SMS to %s accepted by Kavenegar", mask_phone(phone))

    async def aclose(self) -> None:
        """Close the shared HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, form: dict[str, str]) -> tuple[int, bytes]:
        try:
            # No redirects: following one would hand the key-bearing URL to another host.
            async with self._client().post(
                self._lookup_url(), data=form, allow_redirects=False
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's timeouts subclass the built-in one
            reason, detail = "timeout", self._describe(exc)
        except aiohttp.ClientError as exc:
            reason, detail = "connection_error", self._describe(exc)
        # Raised outside the except blocks so that __context__ does not keep the raw error.
        logger.warning("Kavenegar unreachable (%s): %s", reason, detail)
        raise SmsFailed(reason=reason) from KavenegarTransportError(detail)

    def _lookup_url(self) -> str:
        key = quote(self._api_key.get_secret_value(), safe="")
        return f"{self._base_url}/v1/{key}/verify/lookup.json"

    def _client(self) -> aiohttp.ClientSession:
        # Created lazily: a ClientSession must be born inside the running loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    def _describe(self, error: BaseException) -> str:
        """``error`` as text with the API key masked (aiohttp messages may quote the URL)."""
        text = f"{type(error).__name__}: {error}"
        key = self._api_key.get_secret_value()
        if not key:
            return text
        return text.replace(quote(key, safe=""), MASK).replace(key, MASK)


def _receptor(phone: str) -> str:
    if not _E164.fullmatch(phone):
        raise SmsFailed(reason="invalid_receptor")
    return phone.removeprefix("+")


def _gateway_status(body: bytes) -> int | None:
    """``return.status`` of a Kavenegar answer, or None when the body is not one."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    answer = data.get("return") if isinstance(data, dict) else None
    status = answer.get("status") if isinstance(answer, dict) else None
    try:
        return int(status) if status is not None else None
    except (TypeError, ValueError):
        return None


def _status_param(gateway_status: int | None) -> dict[str, int]:
    return {"gateway_status": gateway_status} if gateway_status is not None else {}
