"""The SMS factory builds the backend the settings name."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from core.sms.base import SmsSender
from core.sms.console import ConsoleSmsSender
from core.sms.factory import build_sms_sender
from core.sms.file import FileSmsSender
from core.sms.kavenegar import KavenegarSmsSender


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def test_console_is_the_default_and_shows_codes_only_outside_production() -> None:
    development = build_sms_sender(settings(sms_backend="console"))
    production = build_sms_sender(settings(sms_backend="console", contexor_env="production"))

    assert isinstance(development, ConsoleSmsSender)
    assert development._allow_code_in_logs is True
    assert isinstance(production, ConsoleSmsSender)
    assert production._allow_code_in_logs is False


async def test_file_writes_to_the_configured_outbox(tmp_path: Path) -> None:
    outbox = tmp_path / "out.jsonl"
    sender = build_sms_sender(settings(sms_backend="file", sms_outbox=outbox))

    await sender.send_otp(phone="+989121234567", code="654321", language="en")

    assert isinstance(sender, FileSmsSender)
    assert "654321" in outbox.read_text(encoding="utf-8")


async def test_kavenegar_gets_its_settings_and_hides_the_key() -> None:
    sender = build_sms_sender(
        settings(
            sms_backend="kavenegar",
            kavenegar_api_key="very-secret-key",
            kavenegar_base_url="http://127.0.0.1:9/",
            sms_timeout_seconds=3,
        )
    )

    assert isinstance(sender, KavenegarSmsSender)
    assert isinstance(sender, SmsSender)
    assert "very-secret-key" not in repr(sender)
    assert sender._lookup_url() == "http://127.0.0.1:9/v1/very-secret-key/verify/lookup.json"
    await sender.aclose()
