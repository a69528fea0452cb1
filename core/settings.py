"""Every setting of docs/architecture.md §3, validated once at start-up and passed down explicitly.

``Settings()`` reads the environment and an optional ``.env`` file. In production
(``CONTEXOR_ENV=production``) :func:`production_problems` lists every development default still
in force, and the CLI refuses to start with one message naming each offending variable.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_FILE = "contexor.sqlite3"  # under DATA_DIR
DEFAULT_SMS_OUTBOX_FILE = "sms-outbox.jsonl"  # under DATA_DIR
SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LlmBackend(StrEnum):
    OPENAI = "openai"
    OFFLINE = "offline"


class SmsBackend(StrEnum):
    CONSOLE = "console"
    FILE = "file"
    KAVENEGAR = "kavenegar"


class BillingCalendar(StrEnum):
    GREGORIAN = "gregorian"
    JALALI = "jalali"


class Settings(BaseSettings):
    """The process configuration; field names are the lower-case environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True
    )

    contexor_env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("data")
    # Unset: SQLite in DATA_DIR (filled in by _files_under_data_dir).
    database_url: str = ""
    auto_migrate: bool = False
    # Connections in the PostgreSQL pool (asyncpg's maxsize); /readyz never waits in it.
    database_pool_size: int = Field(default=10, ge=1, le=1000)
    # How long `contexor run` waits for an unreachable database at start before exiting 1.
    database_wait_seconds: float = Field(default=60.0, ge=0)
    # On SIGTERM: how long running generations get to finish before the rest are cancelled
    # (what arrived is kept as an incomplete version).
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    # How long after a generation last showed life its author may unlock the content.
    generation_unlock_grace_seconds: int = Field(default=120, ge=0)
    redis_url: str | None = None
    # Every key the product writes to Redis starts with this, so deployments (or test sessions)
    # that share one Redis server never read each other's counters, claims or leases.
    redis_key_prefix: str = Field(default="contexor:", min_length=1, max_length=64)
    # The content list's total is cached this long per filter in Redis (writes invalidate it at
    # once, core/services/list_totals.py); 0 counts on every request. Without Redis: no cache.
    list_total_cache_seconds: float = Field(default=10.0, ge=0, le=300)
    # A REST session's principal (user, roles, session state) is kept this long per process and
    # used only while Redis says nothing changed since (core/security/principal_cache.py): a
    # logout or role change counts at once. It bounds what a write outside core leaves stale.
    # 0 reads PostgreSQL on every request. Without Redis: no cache.
    principal_cache_seconds: float = Field(default=30.0, ge=0, le=300)
    secret_key: SecretStr | None = None

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    # The web chat on the local Bot API (bot/playground): unset means on in development
    # without TELEGRAM_BOT_TOKEN; a real token always turns it off; production refuses it.
    playground: bool | None = None
    # The playground's local Bot API answers as Telegram does when a bot floods (429 with
    # retry_after: one message a second per chat, 20 a minute per group, 30 a second overall).
    playground_flood_limits: bool = False
    # Replicas (docs/scaling.md): one holds the bot lease and takes the updates; a standby takes
    # over within this long of the holder dying.
    bot_lease_seconds: float = Field(default=10.0, ge=1.0, le=300.0)

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout_seconds: float = Field(default=60.0, gt=0)
    llm_backend: LlmBackend | None = None
    llm_max_output_tokens: int = Field(default=4000, ge=1)
    # The most a rendered prompt template may hold (checked from the declared variable lengths
    # when a prompt is saved, and from the values before a generation renders anything).
    max_rendered_chars: int = Field(default=100_000, ge=1_000)
    max_rendered_tokens: int = Field(default=100_000, ge=1_000)

    sms_backend: SmsBackend = SmsBackend.CONSOLE
    sms_outbox: Path = Path()  # unset: DATA_DIR/sms-outbox.jsonl (see _files_under_data_dir)
    kavenegar_api_key: SecretStr | None = None
    kavenegar_otp_template: str = "login-otp"
    kavenegar_base_url: str = "https://api.kavenegar.com"
    sms_timeout_seconds: float = Field(default=10.0, gt=0)

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=0, le=65535)
    # Processes serving the API (bot/workers.py); None: the core count with PostgreSQL and Redis.
    api_workers: int | None = Field(default=None, ge=1, le=64)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # None: serve /metrics only when the API listens on a loopback address.
    metrics_enabled: bool | None = None

    timezone: str = "Asia/Tehran"
    billing_calendar: BillingCalendar = BillingCalendar.GREGORIAN
    default_language: str = "fa"
    # ISO 3166 regions whose phone numbers may sign in and be invited.
    phone_regions: Annotated[frozenset[str], NoDecode] = frozenset({"IR"})

    otp_ttl_seconds: int = Field(default=300, ge=30)
    otp_max_attempts: int = Field(default=5, ge=1)
    otp_resend_seconds: int = Field(default=60, ge=0)
    otp_daily_cap: int = Field(default=10, ge=1)
    otp_daily_cap_per_requester: int = Field(default=3, ge=1)
    otp_request_rate: str = "5/minute"
    otp_verify_rate: str = "10/minute"

    invite_link_ttl_hours: int = Field(default=72, ge=1, le=24 * 30)
    max_organizations_per_user: int = Field(default=5, ge=1)
    organization_create_rate: str = "3/hour"

    access_token_minutes: int = Field(default=15, ge=1)
    refresh_token_days: int = Field(default=7, ge=1)
    # A refresh token presented again this soon after its first use gets the same new pair
    # (two tabs refreshing at once); later reuse revokes the family. 0 turns the grace off.
    refresh_reuse_grace_seconds: int = Field(default=10, ge=0, le=60)

    default_workspace_monthly_budget_usd: Decimal = Field(default=Decimal("100"), ge=0)
    default_user_monthly_budget_usd: Decimal = Field(default=Decimal("50"), ge=0)

    # Notification delivery (core/services/outbox.py, bot/delivery.py).
    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_backoff_seconds: float = Field(default=5.0, gt=0)
    outbox_backoff_max_seconds: float = Field(default=900.0, gt=0)
    outbox_batch_size: int = Field(default=20, ge=1, le=500)
    outbox_lease_seconds: int = Field(default=120, ge=5)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_concurrency: int = Field(default=8, ge=1, le=100)
    outbox_send_timeout_seconds: float = Field(default=15.0, gt=0)
    outbox_keep_days: int = Field(default=7, ge=1)

    log_level: str = "INFO"
    log_format: str = "text"

    @field_validator("default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in ("fa", "en"):
            raise ValueError("must be fa or en")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("log_format")
    @classmethod
    def _known_log_format(cls, value: str) -> str:
        if value not in ("text", "json"):
            raise ValueError("must be text or json")
        return value

    @field_validator("phone_regions", mode="before")
    @classmethod
    def _region_list(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(item.strip().upper() for item in value.split(",") if item.strip())
        return value

    @field_validator("phone_regions")
    @classmethod
    def _known_regions(cls, value: frozenset[str]) -> frozenset[str]:
        if not value:
            raise ValueError("name at least one region, e.g. IR")
        unknown = sorted(value - phonenumbers.SUPPORTED_REGIONS)
        if unknown:
            raise ValueError(f"unknown region(s) {', '.join(unknown)}")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret_charset(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's rule for setWebhook's secret_token: 1-256 of A-Z, a-z, 0-9, _ and -.
        if value is not None and not re.fullmatch(
            r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()
        ):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("telegram_webhook_url")
    @classmethod
    def _webhook_https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("Telegram sends webhooks to https:// URLs only")
        return value

    @model_validator(mode="after")
    def _files_under_data_dir(self) -> Settings:
        # DATA_DIR is made absolute once, so what the log names is where the files are; the
        # embedded defaults live under it whatever the working directory is later.
        object.__setattr__(self, "data_dir", self.data_dir.expanduser().resolve())
        if not self.database_url:
            url = f"sqlite://{self.data_dir / DEFAULT_DATABASE_FILE}"
            object.__setattr__(self, "database_url", url)
        if self.sms_outbox == Path():
            object.__setattr__(self, "sms_outbox", self.data_dir / DEFAULT_SMS_OUTBOX_FILE)
        return self

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value:
            return value
        scheme = value.split("://", 1)[0]
        if scheme not in ("sqlite", "postgres", "postgresql", "asyncpg"):
            raise ValueError("must start with sqlite:// or postgres://")
        return value

    @model_validator(mode="after")
    def _kavenegar_needs_a_key(self) -> Settings:
        if self.sms_backend is SmsBackend.KAVENEGAR and not self.kavenegar_api_key:
            raise ValueError("SMS_BACKEND=kavenegar needs KAVENEGAR_API_KEY")
        return self

    # Derived values -----------------------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.contexor_env is Environment.PRODUCTION

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def serves_metrics(self) -> bool:
        """``METRICS_ENABLED``, or by default whether ``API_HOST`` is a loopback address."""
        if self.metrics_enabled is not None:
            return self.metrics_enabled
        if self.api_host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.api_host).is_loopback
        except ValueError:
            return False

    @property
    def runs_playground(self) -> bool:
        """Whether ``contexor run`` serves the playground: development, no real token, and
        ``PLAYGROUND`` not turned off."""
        return (
            not self.is_production
            and self.telegram_bot_token is None
            and self.playground is not False
        )

    @property
    def effective_llm_backend(self) -> LlmBackend:
        """``openai`` when a key or base URL is configured, else the offline generator."""
        if self.llm_backend is not None:
            return self.llm_backend
        if self.openai_api_key or self.openai_base_url:
            return LlmBackend.OPENAI
        return LlmBackend.OFFLINE

    def signing_key(self) -> bytes:
        """The JWT key and OTP pepper; in development generated once into ``data/secret_key``."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        return _development_secret(self.data_dir)


def _development_secret(data_dir: Path) -> bytes:
    path = data_dir / SECRET_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip().encode()


def production_problems(settings: Settings) -> list[str]:
    """Each development default still in force, named by its environment variable."""
    if not settings.is_production:
        return []
    problems = []
    if settings.secret_key is None:
        problems.append("SECRET_KEY is not set")
    elif len(settings.secret_key.get_secret_value()) < 32:
        problems.append("SECRET_KEY is shorter than 32 characters")
    if not settings.redis_url:
        problems.append("REDIS_URL is not set (the in-process store serves one process only)")
    if settings.uses_sqlite:
        problems.append("DATABASE_URL points at SQLite; production needs postgres://")
    if settings.sms_backend is not SmsBackend.KAVENEGAR:
        problems.append(
            f"SMS_BACKEND is {settings.sms_backend.value}; production sends with kavenegar"
        )
    if settings.effective_llm_backend is LlmBackend.OFFLINE:
        problems.append("LLM_BACKEND is offline; set OPENAI_API_KEY or OPENAI_BASE_URL")
    if settings.playground:
        problems.append("PLAYGROUND is on; the playground (a local Bot API) is for development")
    if settings.telegram_webhook_url and not settings.telegram_webhook_secret:
        problems.append("TELEGRAM_WEBHOOK_SECRET is not set while TELEGRAM_WEBHOOK_URL is")
    return problems
