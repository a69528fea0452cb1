"""The fence on ``getUpdates``: no batch of updates is taken by a process that lost the lease.

PTB sends ``getUpdates`` through its own request object (``ApplicationBuilder.
get_updates_request``; ``Bot`` uses it for that one method only), so the check sits in the
transport, where no caller can go around it: before the request is sent, and again when the
answer arrives, before PTB puts the updates in its queue. A process that was paused past its
lease (the other replica took over meanwhile) and then resumes drops the batch it had in flight
and never sends another ``getUpdates``: the updates stay unconfirmed at Telegram, so the new
leader takes them, and no second poll cuts the leader's off with 409.

Without a lease (no Redis, or tests building the bot directly) the fence always permits.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from telegram.request import BaseRequest, RequestData

from bot.transport import AiohttpRequest

logger = logging.getLogger("contexor.bot")

# What a fenced getUpdates returns to PTB: a successful empty batch.
NO_UPDATES = (200, json.dumps({"ok": True, "result": []}).encode())
# A fenced poll answers after this pause, so PTB's polling loop does not spin while the
# leadership stops it.
FENCED_PAUSE_SECONDS = 0.5


class Fence:
    """Whether this process may take updates now; the leadership binds it to its lease."""

    def __init__(self) -> None:
        self._check: Callable[[], Awaitable[bool]] | None = None
        self._on_refused: Callable[[], None] | None = None

    def bind(self, check: Callable[[], Awaitable[bool]], on_refused: Callable[[], None]) -> None:
        self._check, self._on_refused = check, on_refused

    async def permits(self) -> bool:
        if self._check is None:
            return True
        if await self._check():
            return True
        if self._on_refused is not None:
            self._on_refused()
        return False


class FencedRequest(AiohttpRequest):
    """The bot's transport (``bot/transport.py``) for ``getUpdates``, asking ``fence``
    around each request."""

    def __init__(self, fence: Fence, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fence = fence

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout=BaseRequest.DEFAULT_NONE,
        write_timeout=BaseRequest.DEFAULT_NONE,
        connect_timeout=BaseRequest.DEFAULT_NONE,
        pool_timeout=BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if not await self.fence.permits():
            await asyncio.sleep(FENCED_PAUSE_SECONDS)
            return NO_UPDATES
        answer = await super().do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        if not await self.fence.permits():
            if _has_updates(answer):
                logger.warning("a batch of updates arrived after the bot lease was lost; dropped")
            return NO_UPDATES
        return answer


def _has_updates(answer: tuple[int, bytes]) -> bool:
    code, payload = answer
    try:
        return code == 200 and bool(json.loads(payload).get("result"))
    except (ValueError, AttributeError):
        return False
