"""The product's local Bot API (``bot/local_api``) on its own loopback port, for the tests.

``async with FakeBotApi() as fake:`` then point PTB at it the way production points it at
Telegram: ``TELEGRAM_API_BASE_URL=fake.url``. Everything else (acting as users, reading what they
see, the knobs) is ``bot.local_api.LocalBotApi``: one implementation serves the tests, the
benchmarks and the playground of ``contexor run``.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from aiohttp import web

from bot.local_api import (
    BLOCKED,
    DEFAULT_BOT_USERNAME,
    DEFAULT_TOKEN,
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    NOT_MODIFIED,
    QUERY_INVALID,
    BotCall,
    FloodLimits,
    InlineButton,
    LocalBotApi,
    StoredMessage,
    TelegramApiError,
    UploadedFile,
)
from tests.fakes.server import LoopbackServer

__all__ = [
    "BLOCKED",
    "DEFAULT_BOT_USERNAME",
    "DEFAULT_TOKEN",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_CAPTION_LENGTH",
    "MAX_TEXT_LENGTH",
    "NOT_MODIFIED",
    "QUERY_INVALID",
    "BotCall",
    "FakeBotApi",
    "FloodLimits",
    "InlineButton",
    "StoredMessage",
    "TelegramApiError",
    "UploadedFile",
]


class FakeBotApi(LocalBotApi, LoopbackServer):
    """The local Bot API served alone on 127.0.0.1 and a free port."""

    def __init__(self, **options: Any) -> None:
        LocalBotApi.__init__(self, **options)
        LoopbackServer.__init__(self)

    def add_routes(self, app: web.Application) -> None:
        LocalBotApi.add_routes(self, app)

    async def __aenter__(self) -> Self:
        self.open()
        await LoopbackServer.__aenter__(self)
        self.serve_at(f"http://127.0.0.1:{self._port}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        await LoopbackServer.__aexit__(self, exc_type, exc, tb)
