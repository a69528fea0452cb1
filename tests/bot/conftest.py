"""Fixtures for the bot tests: the fake Bot API, a PTB ``Bot`` on it, and the whole bot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from telegram import Bot

from core.clock import FrozenClock
from core.settings import Settings
from tests.bot.harness import BotHarness
from tests.fakes.bot_api import FakeBotApi


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to PTB 22's ``timedelta`` durations, as the bot process should.

    Without ``PTB_TIMEDELTA`` PTB warns (``PTBDeprecationWarning``) whenever a duration is
    read, and it reads one while *constructing* ``RetryAfter``: under ``filterwarnings =
    error`` a 429 would surface as the warning instead of ``RetryAfter``.
    """
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    """A fresh fake Bot API server for one bot."""
    async with FakeBotApi() as fake:
        yield fake


@pytest.fixture
async def bot(bot_api: FakeBotApi) -> AsyncIterator[Bot]:
    """A real, initialised PTB ``Bot`` talking to ``bot_api``."""
    async with Bot(
        bot_api.token, base_url=bot_api.base_url, base_file_url=bot_api.base_file_url
    ) as client:
        yield client


@pytest.fixture
def bot_settings(settings: Settings, bot_api: FakeBotApi) -> Settings:
    """The test settings pointed at the fake Bot API, with its token."""
    return settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(bot_api.token),
            "telegram_api_base_url": bot_api.url,
        }
    )


@pytest.fixture
async def harness(
    bot_settings: Settings,
    clock: FrozenClock,
    db: str,
    fresh_keys: Redis | None,
    bot_api: FakeBotApi,
) -> AsyncIterator[BotHarness]:
    """The real bot, polling the fake Bot API, on the test database (see tests/bot/harness.py)."""
    bot_harness = BotHarness(bot_api, bot_settings, clock)
    await bot_harness.start()
    try:
        yield bot_harness
    finally:
        await bot_harness.stop()
