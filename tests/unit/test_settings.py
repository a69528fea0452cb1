"""Settings: defaults, validation, derived values and the production refusal list."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import LlmBackend, Settings, production_problems


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)


def test_defaults_match_the_design(monkeypatch) -> None:
    # Tortoise.init leaves TIMEZONE=UTC in the environment of a process that opened a database.
    monkeypatch.delenv("TIMEZONE", raising=False)
    settings = _settings()
    data = Path("data").resolve()
    assert settings.data_dir == data
    assert settings.database_url == f"sqlite://{data}/contexor.sqlite3"
    assert settings.sms_outbox == data / "sms-outbox.jsonl"
    assert settings.runs_playground
    assert settings.redis_url is None
    assert (settings.otp_ttl_seconds, settings.otp_max_attempts, settings.otp_resend_seconds) == (
        300,
        5,
        60,
    )
    assert (settings.access_token_minutes, settings.refresh_token_days) == (15, 7)
    assert settings.timezone == "Asia/Tehran"
    assert settings.effective_llm_backend is LlmBackend.OFFLINE


def test_the_embedded_files_follow_data_dir(tmp_path: Path) -> None:
    settings = _settings(data_dir=tmp_path / "d")
    assert settings.database_url == f"sqlite://{tmp_path}/d/contexor.sqlite3"
    assert settings.sms_outbox == tmp_path / "d" / "sms-outbox.jsonl"
    explicit = _settings(data_dir=tmp_path, database_url="sqlite://x.db", sms_outbox="o.jsonl")
    assert (explicit.database_url, explicit.sms_outbox) == ("sqlite://x.db", Path("o.jsonl"))


def test_the_playground_runs_only_in_development_without_a_token() -> None:
    assert _settings().runs_playground
    assert not _settings(playground=False).runs_playground
    assert not _settings(telegram_bot_token="1:x").runs_playground
    production = _settings(contexor_env="production", playground=True)
    assert not production.runs_playground
    assert any("PLAYGROUND" in problem for problem in production_problems(production))
    assert not any(
        "PLAYGROUND" in p for p in production_problems(_settings(contexor_env="production"))
    )


def test_a_base_url_or_key_selects_the_openai_backend() -> None:
    assert _settings(openai_base_url="http://x/v1").effective_llm_backend is LlmBackend.OPENAI
    assert _settings(openai_api_key="k").effective_llm_backend is LlmBackend.OPENAI
    assert _settings(openai_api_key="k", llm_backend="offline").effective_llm_backend is (
        LlmBackend.OFFLINE
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus"),
        ("default_language", "de"),
        ("log_format", "xml"),
        ("database_url", "mysql://x"),
        ("trusted_proxies", "not-an-address"),
        ("otp_max_attempts", 0),
        ("otp_daily_cap_per_requester", 0),
        ("phone_regions", "IR,XX"),
        ("phone_regions", " , "),
        ("sms_backend", "pigeon"),
    ],
)
def test_invalid_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        _settings(**{field: value})


def test_kavenegar_requires_its_key() -> None:
    with pytest.raises(ValidationError, match="KAVENEGAR_API_KEY"):
        _settings(sms_backend="kavenegar")


def test_trusted_proxies_read_from_a_comma_separated_environment_variable(monkeypatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/24")
    assert Settings(_env_file=None).trusted_proxies == ["10.0.0.1", "192.168.0.0/24"]


def test_phone_regions_default_to_iran_and_read_a_comma_separated_list(monkeypatch) -> None:
    assert _settings().phone_regions == {"IR"}
    assert _settings().otp_daily_cap_per_requester == 3
    monkeypatch.setenv("PHONE_REGIONS", "ir, US")
    assert Settings(_env_file=None).phone_regions == {"IR", "US"}


def test_development_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = _settings(data_dir=tmp_path)
    first = settings.signing_key()
    assert len(first) >= 32
    assert _settings(data_dir=tmp_path).signing_key() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_development_has_no_production_problems() -> None:
    assert production_problems(_settings()) == []


def test_production_names_every_development_default() -> None:
    problems = " ".join(production_problems(_settings(contexor_env="production")))
    for variable in ("SECRET_KEY", "REDIS_URL", "DATABASE_URL", "SMS_BACKEND", "LLM_BACKEND"):
        assert variable in problems


def test_a_complete_production_configuration_is_accepted() -> None:
    settings = _settings(
        contexor_env="production",
        secret_key="x" * 40,
        redis_url="redis://127.0.0.1:6379/0",
        database_url="postgres://u:p@db/contexor",
        sms_backend="kavenegar",
        kavenegar_api_key="key",
        openai_api_key="key",
    )
    assert production_problems(settings) == []


def test_production_refuses_a_short_secret_and_a_webhook_without_secret() -> None:
    settings = _settings(
        contexor_env="production",
        secret_key="short",
        telegram_webhook_url="https://example.org/hook",
    )
    problems = " ".join(production_problems(settings))
    assert "shorter than 32" in problems
    assert "TELEGRAM_WEBHOOK_SECRET" in problems


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("telegram_webhook_secret", "has spaces in it"),
        ("telegram_webhook_secret", "x" * 257),
        ("telegram_webhook_url", "http://example.org/hook"),
    ],
)
def test_webhook_settings_follow_telegrams_rules(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, **{field: value})
