"""Fixtures for the bot tests: the fake Bot API server and a real PTB ``Bot`` pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot

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
