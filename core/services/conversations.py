"""Where a chat with the bot stands, kept in the database so a restart loses nothing.

One row per (chat, Telegram user): a private chat and a group never share a state, and two
people in one group never share one either. A state lives ``ttl`` after its last change; an
expired state reads as no state (its data is dropped, the chosen language stays).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tortoise import timezone
from tortoise.exceptions import IntegrityError

from core.clock import Clock
from db import raw
from db.models import BotConversation

DEFAULT_TTL = timedelta(hours=24)
# The data key under which an interruption keeps the state it interrupted (``interrupt``).
RESUME = "resume"


@dataclass
class Conversation:
    """A snapshot: ``state`` is ``None`` when the chat is idle (or its state expired)."""

    chat_id: int
    telegram_user_id: int
    state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    language: str | None = None


class ConversationService:
    """Read, replace and clear conversation state with the injected clock."""

    def __init__(self, *, clock: Clock, ttl: timedelta = DEFAULT_TTL) -> None:
        self._clock = clock
        self._ttl = ttl

    async def get(self, chat_id: int, telegram_user_id: int) -> Conversation:
        """The live state of this chat and user (idle when none or expired)."""
        return self.snapshot(chat_id, telegram_user_id, await _row(chat_id, telegram_user_id))

    def snapshot(
        self, chat_id: int, telegram_user_id: int, row: BotConversation | None
    ) -> Conversation:
        """The live state in ``row`` (read by the caller, which may read more beside it)."""
        if row is None:
            return Conversation(chat_id, telegram_user_id)
        if row.expires_at is not None and row.expires_at <= self._clock.now():
            return Conversation(chat_id, telegram_user_id, language=row.language)
        return Conversation(chat_id, telegram_user_id, row.state or None, row.data, row.language)

    async def set(
        self,
        chat_id: int,
        telegram_user_id: int,
        state: str,
        data: dict[str, Any] | None = None,
        *,
        ttl: timedelta | None = None,
    ) -> None:
        """Replace the state and its data; the expiry restarts (the language stays)."""
        expires_at = self._clock.now() + (ttl or self._ttl)
        await self._upsert(
            chat_id, telegram_user_id, state=state, data=data or {}, expires_at=expires_at
        )

    async def interrupt(
        self,
        chat_id: int,
        telegram_user_id: int,
        state: str,
        data: dict[str, Any],
        *,
        keep_unless: frozenset[str] = frozenset(),
    ) -> None:
        """Set ``state`` while keeping the one it replaces, for ``finish`` to return to.

        A person halfway through a flow (answering a prompt's questions, say) who is asked
        something else (the reason for a rejection) finds the flow where they left it once that
        is answered or cancelled. Interrupting the same state again keeps the first one kept;
        states in ``keep_unless`` (owned by a running task) are not kept.
        """
        current = await self.get(chat_id, telegram_user_id)
        if current.state == state:
            kept = current.data.get(RESUME)
        elif current.state and current.state not in keep_unless:
            kept = {"state": current.state, "data": current.data}
        else:
            kept = None
        await self.set(chat_id, telegram_user_id, state, {**data, RESUME: kept} if kept else data)

    async def finish(self, chat_id: int, telegram_user_id: int, data: dict[str, Any]) -> bool:
        """End an interruption (``data`` is its state's): back to the state it kept, or idle.
        True when there was one to return to."""
        kept = data.get(RESUME)
        if not kept:
            await self.clear(chat_id, telegram_user_id)
            return False
        await self.set(chat_id, telegram_user_id, kept["state"], kept["data"])
        return True

    async def clear(self, chat_id: int, telegram_user_id: int) -> None:
        """Back to idle (the language choice stays)."""
        client = raw.postgres()
        if client is not None:  # db/raw.py: every update of a conversation ends up here
            await raw.execute(client, _CLEAR, chat_id, telegram_user_id)
            return
        await BotConversation.filter(chat_id=chat_id, telegram_user_id=telegram_user_id).update(
            state="", data={}, expires_at=None
        )

    async def set_language(self, chat_id: int, telegram_user_id: int, language: str) -> None:
        """Remember the language of someone not linked yet (linked users keep it on the user)."""
        await self._upsert(chat_id, telegram_user_id, language=language)

    async def forget_user(self, telegram_user_id: int) -> None:
        """Drop every state of this Telegram account (unlink)."""
        await BotConversation.filter(telegram_user_id=telegram_user_id).update(
            state="", data={}, expires_at=None
        )

    async def clear_expired(self, *, batch: int = 1000) -> int:
        """Drop the state and data of every expired conversation, ``batch`` rows per statement
        (the row and its chosen language stay); how many were cleared."""
        cleared = 0
        while True:
            ids = await (
                BotConversation.filter(expires_at__lt=self._clock.now())
                .order_by("id")
                .limit(batch)
                .values_list("id", flat=True)
            )
            if not ids:
                return cleared
            cleared += await BotConversation.filter(id__in=ids).update(
                state="", data={}, expires_at=None
            )

    async def _upsert(self, chat_id: int, telegram_user_id: int, **values: Any) -> None:
        """One conditional UPDATE when the row exists (every write after a chat's first)."""
        rows = BotConversation.filter(chat_id=chat_id, telegram_user_id=telegram_user_id)
        for _ in range(2):  # a concurrent first write wins the insert; we then update it
            if await _update(rows, chat_id, telegram_user_id, values):
                return
            try:
                await BotConversation.create(
                    chat_id=chat_id,
                    telegram_user_id=telegram_user_id,
                    **{"state": "", "data": {}, "expires_at": None, **values},
                )
                return
            except IntegrityError:
                continue
        raise RuntimeError("conversation row vanished while being written")  # pragma: no cover


# -- the hot path on PostgreSQL (db/raw.py) ---------------------------------------------------

_SELECT = "SELECT * FROM bot_conversations WHERE chat_id = $1 AND telegram_user_id = $2"
_CLEAR = (
    "UPDATE bot_conversations SET state = '', data = '{}'::jsonb, expires_at = NULL"
    " WHERE chat_id = $1 AND telegram_user_id = $2"
)
_SET_STATE = (
    "UPDATE bot_conversations SET state = $3, data = $4::jsonb, expires_at = $5,"
    " updated_at = $6 WHERE chat_id = $1 AND telegram_user_id = $2"
)
_DATA = BotConversation._meta.fields_map["data"]


async def _row(chat_id: int, telegram_user_id: int) -> BotConversation | None:
    client = raw.postgres()
    if client is None:
        return await BotConversation.get_or_none(chat_id=chat_id, telegram_user_id=telegram_user_id)
    rows = await raw.fetch(client, _SELECT, chat_id, telegram_user_id)
    return raw.model(BotConversation, rows[0]) if rows else None


async def _update(rows: Any, chat_id: int, telegram_user_id: int, values: dict[str, Any]) -> int:
    """The conditional UPDATE of :meth:`ConversationService._upsert`: a new state (the
    common write, as raw SQL on PostgreSQL) or any other set of values (through the ORM)."""
    client = raw.postgres()
    if client is None or set(values) != {"state", "data", "expires_at"}:
        return await rows.update(**values, updated_at=timezone.now())
    return await raw.execute(
        client,
        _SET_STATE,
        chat_id,
        telegram_user_id,
        values["state"],
        _DATA.to_db_value(values["data"], BotConversation),
        values["expires_at"],
        timezone.now(),
    )
