"""The local Telegram Bot API: the playground's Telegram and the tests' (see ``api.py``)."""

from bot.local_api.api import (
    BLOCKED,
    DEFAULT_BOT_USERNAME,
    DEFAULT_TOKEN,
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    NOT_MODIFIED,
    QUERY_INVALID,
    BotCall,
    InlineButton,
    LocalBotApi,
    StoredMessage,
    TelegramApiError,
    UploadedFile,
)
from bot.local_api.flood import LIMITED_METHODS, FloodGate, FloodLimits

__all__ = [
    "BLOCKED",
    "DEFAULT_BOT_USERNAME",
    "DEFAULT_TOKEN",
    "LIMITED_METHODS",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_CAPTION_LENGTH",
    "MAX_TEXT_LENGTH",
    "NOT_MODIFIED",
    "QUERY_INVALID",
    "BotCall",
    "FloodGate",
    "FloodLimits",
    "InlineButton",
    "LocalBotApi",
    "StoredMessage",
    "TelegramApiError",
    "UploadedFile",
]
