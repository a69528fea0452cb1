"""The console sender logs the message, and the code only where that is allowed."""

from __future__ import annotations

import logging

import pytest

from core.sms.console import ConsoleSmsSender

PHONE = "+989121234567"


async def test_logs_the_persian_message_with_the_code_in_development(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="core.sms")
    sender = ConsoleSmsSender(allow_code_in_logs=True)

    await sender.send_otp(phone=PHONE, code="482913", language="fa")

    assert "کد ورود شما به کانتکسور: 482913" in caplog.text
    assert PHONE in caplog.text


async def test_hides_the_code_and_number_when_not_allowed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sender = ConsoleSmsSender(allow_code_in_logs=False)

    await sender.send_otp(phone=PHONE, code="482913", language="en")

    assert "Your Contexor login code" in caplog.text
    assert "482913" not in caplog.text
    assert PHONE not in caplog.text
    assert "4567" in caplog.text
    await sender.aclose()
