"""Updates run in order for each Telegram user and concurrently across users.

PTB's ``concurrent_updates(True)`` would let two presses of one user race (a Back overtaking
the answer it undoes); sequential processing would make every user wait for every other. This
processor keeps one FIFO lock per user: a user's updates are handled one after another in the
order Telegram delivered them, different users never wait for each other, and the base class
still caps the total in flight. Work that outlives an update (a streaming generation) runs in its
own task so it never holds the user's lock; ``/cancel`` is therefore handled while a draft
streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.pacing import replying_to, stop_replying

DEFAULT_MAX_CONCURRENT = 256


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """One lock per user (or per chat for updates without a user); locks are dropped when idle."""

    def __init__(self, max_concurrent_updates: int = DEFAULT_MAX_CONCURRENT) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[Any, asyncio.Lock] = {}
        self._holders: dict[Any, int] = {}
        # Called with each update once its handlers (and error handlers) finished; tests and the
        # benchmark use it to know when the bot has answered.
        self.on_processed: Callable[[object], None] | None = None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _key(update)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        self._holders[key] = self._holders.get(key, 0) + 1
        try:
            async with lock:
                # Answers to this chat are replies, not bulk sends (bot/pacing.py).
                token = replying_to(_chat_id(update))
                try:
                    await coroutine
                finally:
                    stop_replying(token)
        finally:
            self._holders[key] -= 1
            if not self._holders[key]:
                del self._holders[key]
                del self._locks[key]
            if self.on_processed is not None:
                self.on_processed(update)

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to free: PTB waits for running updates before it shuts the processor."""


def _key(update: object) -> Any:
    if isinstance(update, Update):
        if update.effective_user is not None:
            return ("user", update.effective_user.id)
        if update.effective_chat is not None:
            return ("chat", update.effective_chat.id)
    return ("other", id(update))


def _chat_id(update: object) -> int | None:
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None
