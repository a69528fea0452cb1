"""What ``contexor run`` checks and says before it starts (the CLI calls these).

- :func:`preflight` refuses, with one line, what would otherwise fail half-started: the OpenAI
  backend without a key or base URL, and an ``API_PORT`` another process holds.
- :func:`startup_failure` turns what still fails while starting (an unreachable database, a port
  taken in between) into one line; anything else stays a traceback, since it is a bug.
- :func:`describe_start` is the first log line: the database, the SMS and model backends, the
  bot mode and where the data lives, so a newcomer sees at once what runs on what.
"""

from __future__ import annotations

import errno
import socket
import traceback
from urllib.parse import urlsplit, urlunsplit

from core.settings import LlmBackend, Settings, SmsBackend

# Frames from these packages mean the failure was opening the database.
_DATABASE_MODULES = ("tortoise", "asyncpg", "aiosqlite", "sqlite3", "db")


class StartupFailure(Exception):
    """A reason not to start, already worded for the operator (one line)."""


async def preflight(settings: Settings, *, api: bool) -> None:
    if (
        settings.effective_llm_backend is LlmBackend.OPENAI
        and not settings.openai_api_key
        and not settings.openai_base_url
    ):
        raise StartupFailure(
            "LLM_BACKEND is openai but neither OPENAI_API_KEY nor OPENAI_BASE_URL is set;"
            " set one, or LLM_BACKEND=offline"
        )
    if api and settings.api_port and _port_taken(settings.api_host, settings.api_port):
        raise StartupFailure(_busy_port(settings))


def startup_failure(exc: BaseException, settings: Settings) -> str | None:
    """The one-line reason for a known start-up failure, or ``None`` (a bug: keep the trace)."""
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return _busy_port(settings)
    if _raised_in_database(exc):
        return f"cannot open the database {database_label(settings)}: {_one_line(exc)}"
    return None


def describe_start(settings: Settings, *, bot: bool, api: bool, scheduler: bool) -> str:
    parts = [
        f"database {database_label(settings)}",
        f"SMS {_sms_label(settings)}",
        f"model {_model_label(settings)}",
        f"bot {_bot_mode(settings, bot=bot, api=api)}",
        f"data in {settings.data_dir}",
    ]
    if not scheduler:
        parts.append("scheduler off")
    return "starting contexor: " + "; ".join(parts)


def database_label(settings: Settings) -> str:
    """The database URL without its password (a SQLite file by its path)."""
    url = settings.database_url
    if url.startswith("sqlite://"):
        return f"SQLite {url.removeprefix('sqlite://')}"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _bot_mode(settings: Settings, *, bot: bool, api: bool) -> str:
    if not bot:
        return "off (--no-bot)"
    if settings.telegram_bot_token is not None:
        return "webhook" if settings.telegram_webhook_url else "polling"
    if settings.runs_playground and api:
        return "playground (no TELEGRAM_BOT_TOKEN: the web chat on the local Bot API)"
    return "off (no TELEGRAM_BOT_TOKEN)"


def _sms_label(settings: Settings) -> str:
    if settings.sms_backend is SmsBackend.CONSOLE:
        return "console (codes in the log and on the playground page)"
    if settings.sms_backend is SmsBackend.FILE:
        return f"file {settings.sms_outbox}"
    return "kavenegar"


def _model_label(settings: Settings) -> str:
    if settings.effective_llm_backend is LlmBackend.OFFLINE:
        return "offline (a development generator, not a model)"
    return f"openai {settings.openai_model} at {settings.openai_base_url or 'api.openai.com'}"


def _busy_port(settings: Settings) -> str:
    return (
        f"{settings.api_host}:{settings.api_port} is already in use (another contexor?);"
        " stop it or set API_PORT"
    )


def _port_taken(host: str, port: int) -> bool:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return False  # let the server report the bad host itself
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _raised_in_database(exc: BaseException) -> bool:
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        module = frame.f_globals.get("__name__", "")
        if module.split(".", 1)[0] in _DATABASE_MODULES:
            return True
    return False


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
