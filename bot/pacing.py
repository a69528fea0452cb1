"""Telegram flood limits: the overall 30 messages a second is for what the bot starts itself.

Telegram's global limit (about 30 messages a second) is about bulk sending, broadcasts and
notifications; answers to a person's own message or press follow that person's pace and are not
held behind other people's. PTB's ``AIORateLimiter`` applies the overall limiter to every call
that names a chat, which would cap the whole bot near 30 / (calls per update) updates a second.
:class:`ReplyAwareRateLimiter` keeps everything else of it (group pacing, the pause and
retries on a 429 ``retry_after`` for every call) and skips only the overall limiter for a call
to the private chat whose update is being handled (:func:`replying_to`, set by
``bot/processor.py``). Work started from a handler (a streaming draft) inherits the mark and
keeps its own one-frame-a-second pace (``bot/streaming.py``); the outbox delivery worker and
every other send stay under the overall limiter.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.ext import AIORateLimiter

_REPLYING_TO: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "replying_to", default=None
)


def replying_to(chat_id: int | None) -> contextvars.Token[int | None]:
    """Mark the current task (and tasks it starts) as answering an update of ``chat_id``."""
    return _REPLYING_TO.set(chat_id)


def stop_replying(token: contextvars.Token[int | None]) -> None:
    _REPLYING_TO.reset(token)


def _is_reply(data: dict[str, Any]) -> bool:
    chat = _REPLYING_TO.get()
    if chat is None or chat < 0:  # groups keep AIORateLimiter's group pacing and overall limit
        return False
    try:
        return int(data.get("chat_id")) == chat  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


class ReplyAwareRateLimiter(AIORateLimiter):
    """``AIORateLimiter`` whose overall limiter holds bot-initiated sends, not replies."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        if not _is_reply(data):
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
        # Without "chat_id" in what the limiter reads, AIORateLimiter skips its overall
        # limiter; the request itself still carries the full data through ``kwargs``.
        shown = {key: value for key, value in data.items() if key != "chat_id"}
        return await super().process_request(
            callback, args, kwargs, endpoint, shown, rate_limit_args
        )
