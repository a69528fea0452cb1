"""The notification outbox: rows written with the change they report, claimed and settled by a
delivery worker (docs/architecture.md §4; the worker is ``bot/delivery.py``).

Life of a row::

    pending --claim--> sending --mark_sent--> sent
       ^                  |  \\--give_up--> failed   (bounded tries, 4xx, unreachable recipient)
       \\---retry (backoff or retry_after)--/
    sending whose lease expired (its worker died) --claim--> sending again

* **Written atomically.** :meth:`OutboxService.enqueue` takes the caller's transaction
  (``connection=``), so a change and its notifications commit together or not at all; a
  process killed after the commit leaves the rows for the next worker.
* **Claimed once.** A claim selects due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
  concurrent workers take disjoint rows without waiting) and stamps them with a fresh lease token
  in a conditional ``UPDATE`` that repeats the "still claimable" condition; the worker then
  reads back exactly the rows carrying its token. SQLite has no row locks: there the conditional
  update alone decides, which is enough because it is atomic. Settling a row is conditional on
  the token too, so a worker whose lease expired cannot overwrite the next worker's outcome.
* **Crash windows.** A worker killed after claiming and before sending leaves a ``sending`` row
  whose lease expires; it is claimed and sent again. A worker killed after Telegram accepted the
  message and before ``mark_sent`` committed would send it a second time after the lease: that
  window is one database round trip, and the alternative (never resending an expired claim)
  would lose every message of a crash between claim and send.
* **Reachability.** Rows are written only for recipients with a reachable Telegram link. A 403
  from Telegram (the user blocked the bot) sets ``TelegramLink.unreachable_since``; until the
  user writes to the bot again (:meth:`OutboxService.mark_reachable`) their due rows are given up
  without a call to Telegram and new ones are not written.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F, Q, Subquery
from tortoise.transactions import in_transaction

from core.clock import Clock
from core.settings import Settings
from db.models import Content, ContentStatus, OutboxMessage, OutboxStatus, TelegramLink, User

MAX_ERROR_CHARS = 300
REASON_NOT_LINKED = "not_linked"
REASON_UNREACHABLE = "recipient_unreachable"
# notifications.KIND_CONTENT_SUBMITTED (not imported from there: that module imports this one).
REVIEW_CARD_KIND = "content_submitted"


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed row with what sending it needs: the chat (None: no link any more), the
    recipient's language, and whether the recipient is reachable."""

    message: OutboxMessage
    chat_id: int | None
    language: str
    reachable: bool

    @property
    def token(self) -> str:
        assert self.message.lease_token is not None
        return self.message.lease_token


class OutboxService:
    """Writes, claims and settles notification rows; all times come from the clock."""

    def __init__(self, *, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock

    # --- writing (inside the caller's transaction) ---------------------------------------------

    async def enqueue(
        self,
        *,
        connection: BaseDBAsyncClient,
        user_ids: Iterable[int],
        kind: str,
        payload: Mapping[str, Any],
        content_id: int | None = None,
    ) -> int:
        """One row per distinct recipient who has a reachable Telegram link; returns how many.

        ``connection`` is the caller's transaction: the rows commit with the change or not at
        all. People without a linked account (or who blocked the bot) get no row.
        """
        wanted = sorted(set(user_ids))
        if not wanted:
            return 0
        reachable = await (
            TelegramLink.filter(user_id__in=wanted, unreachable_since=None, user__is_active=True)
            .using_db(connection)
            .values_list("user_id", flat=True)
        )
        now = self._clock.now()
        rows = [
            OutboxMessage(
                user_id=user_id,
                kind=kind,
                payload=dict(payload),
                content_id=content_id,
                status=OutboxStatus.PENDING,
                next_attempt_at=now,
                created_at=now,
            )
            for user_id in sorted(reachable)
        ]
        if rows:
            await OutboxMessage.bulk_create(rows, using_db=connection)
        return len(rows)

    async def enqueue_chat(
        self,
        *,
        connection: BaseDBAsyncClient,
        chat_id: int,
        language: str,
        kind: str,
        payload: Mapping[str, Any],
        content_id: int | None = None,
    ) -> OutboxMessage:
        """One row for a group chat (no person behind it), written in ``language``."""
        now = self._clock.now()
        return await OutboxMessage.create(
            user_id=None,
            chat_id=chat_id,
            language=language,
            kind=kind,
            payload=dict(payload),
            content_id=content_id,
            status=OutboxStatus.PENDING,
            next_attempt_at=now,
            created_at=now,
            using_db=connection,
        )

    async def follow_up(
        self,
        *,
        connection: BaseDBAsyncClient,
        originals: Iterable[OutboxMessage],
        kind: str,
        payload: Mapping[str, Any],
    ) -> int:
        """One row per original, for the same recipient, that changes the message the original
        became (an edit): its payload is the original's, updated with ``payload``, plus
        ``original_id``. Delivery waits for the original to be sent (see :meth:`original`)."""
        now = self._clock.now()
        rows = [
            OutboxMessage(
                user_id=original.user_id,
                chat_id=original.chat_id,
                language=original.language,
                kind=kind,
                payload={**original.payload, **payload, "original_id": original.id},
                content_id=original.content_id,
                status=OutboxStatus.PENDING,
                next_attempt_at=now,
                created_at=now,
            )
            for original in originals
        ]
        if rows:
            await OutboxMessage.bulk_create(rows, using_db=connection)
        return len(rows)

    async def cancel_pending(
        self, *, connection: BaseDBAsyncClient, ids: Iterable[int], reason: str
    ) -> list[int]:
        """Give up the rows among ``ids`` that no worker has claimed yet; returns their ids.

        One conditional update: a row claimed meanwhile stays with its worker."""
        wanted = list(ids)
        if not wanted:
            return []
        pending = await (
            OutboxMessage.filter(id__in=wanted, status=OutboxStatus.PENDING, attempts=0)
            .select_for_update()
            .using_db(connection)
            .values_list("id", flat=True)
        )
        if pending:
            await (
                OutboxMessage.filter(id__in=list(pending), status=OutboxStatus.PENDING)
                .using_db(connection)
                .update(status=OutboxStatus.FAILED, last_error=_clip(reason))
            )
        return list(pending)

    async def original(self, delivery: Delivery) -> OutboxMessage | None:
        """The row a follow-up row (:meth:`follow_up`) changes; None when it is gone."""
        original_id = delivery.message.payload.get("original_id")
        if not isinstance(original_id, int):
            return None
        return await OutboxMessage.get_or_none(id=original_id)

    # --- claiming and settling (the delivery worker) ------------------------------------------

    async def claim(self, limit: int | None = None) -> list[Delivery]:
        """Lease up to ``limit`` due rows (oldest due first) to this caller, with their chats."""
        limit = limit or self._settings.outbox_batch_size
        now = self._clock.now()
        token = secrets.token_hex(16)
        claimable = Q(status=OutboxStatus.PENDING, next_attempt_at__lte=now) | Q(
            status=OutboxStatus.SENDING, lease_until__lt=now
        )
        async with in_transaction() as conn:
            # .only(), not .values_list(): Tortoise 1.1 drops FOR UPDATE from values queries.
            due = await (
                OutboxMessage.filter(claimable)
                .order_by("next_attempt_at", "id")
                .limit(limit)
                .select_for_update(skip_locked=True)
                .only("id")
                .using_db(conn)
            )
            if not due:
                return []
            # The condition again: on SQLite (no row locks) it is what makes the claim exclusive.
            await (
                OutboxMessage.filter(claimable, id__in=[row.id for row in due])
                .using_db(conn)
                .update(
                    status=OutboxStatus.SENDING,
                    lease_token=token,
                    lease_until=now + timedelta(seconds=self._settings.outbox_lease_seconds),
                    attempts=F("attempts") + 1,
                )
            )
        rows = await OutboxMessage.filter(lease_token=token, status=OutboxStatus.SENDING).order_by(
            "id"
        )
        return await self._deliveries(rows)

    async def mark_sent(
        self, delivery: Delivery, *, chat_id: int | None = None, message_id: int | None = None
    ) -> bool:
        """Record the delivery; False when the lease was lost (another worker owns the row)."""
        return await self._settle(
            delivery,
            status=OutboxStatus.SENT,
            sent_at=self._clock.now(),
            sent_chat_id=chat_id,
            sent_message_id=message_id,
            last_error=None,
        )

    async def retry(
        self,
        delivery: Delivery,
        *,
        error: str,
        after_seconds: float | None = None,
        count_attempt: bool = True,
    ) -> bool:
        """Try again later: after ``after_seconds`` (Telegram's ``retry_after``) or the backoff.

        A row that has used its ``OUTBOX_MAX_ATTEMPTS`` tries is given up instead, with the
        error as the reason. ``count_attempt=False`` hands the try back (a 429 is Telegram
        pacing us, not the message failing). Returns False when the lease was lost.
        """
        attempts = delivery.message.attempts - (0 if count_attempt else 1)
        if attempts >= self._settings.outbox_max_attempts:
            return await self.give_up(delivery, reason=f"gave up after {attempts} tries: {error}")
        delay = self.backoff_seconds(attempts) if after_seconds is None else after_seconds
        return await self._settle(
            delivery,
            status=OutboxStatus.PENDING,
            attempts=attempts,
            next_attempt_at=self._clock.now() + timedelta(seconds=delay),
            last_error=_clip(error),
        )

    async def give_up(self, delivery: Delivery, *, reason: str) -> bool:
        """Stop trying; the reason stays on the row."""
        return await self._settle(delivery, status=OutboxStatus.FAILED, last_error=_clip(reason))

    def backoff_seconds(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failed try: doubling from the base, capped."""
        base = self._settings.outbox_backoff_seconds
        return min(base * 2 ** max(attempts - 1, 0), self._settings.outbox_backoff_max_seconds)

    # --- reachability --------------------------------------------------------------------------

    async def mark_unreachable(
        self, *, user_id: int | None = None, telegram_user_id: int | None = None
    ) -> None:
        """Telegram refused to deliver to this person (403), or told us they blocked the bot:
        send them nothing until they write. Give the user's id or their Telegram id."""
        if (user_id is None) == (telegram_user_id is None):
            raise ValueError("give exactly one of user_id and telegram_user_id")
        who = (
            {"user_id": user_id} if user_id is not None else {"telegram_user_id": telegram_user_id}
        )
        await TelegramLink.filter(**who, unreachable_since=None).update(
            unreachable_since=self._clock.now()
        )

    async def mark_reachable(self, telegram_user_id: int) -> bool:
        """The person wrote to the bot: deliver to them again. True when they had been marked.

        A bot update in a chat clears the mark in the statement that starts it
        (``TelegramLinkService.begin_update``); this is for the updates without a chat."""
        return await clear_unreachable(telegram_user_id)

    # --- housekeeping --------------------------------------------------------------------------

    async def purge(self, *, older_than: timedelta | None = None, batch: int = 1000) -> int:
        """Delete settled rows (sent or given up) created before ``older_than`` ago (default
        ``OUTBOX_KEEP_DAYS``), ``batch`` rows per statement so no sweep holds a long lock.

        A review card whose content still waits for review is kept, however old: the decision
        needs its recorded message to close it."""
        keep = older_than or timedelta(days=self._settings.outbox_keep_days)
        cutoff = self._clock.now() - keep
        in_review = Content.filter(status=ContentStatus.REVIEW).values("id")
        settled = OutboxMessage.filter(
            status__in=(OutboxStatus.SENT, OutboxStatus.FAILED), created_at__lt=cutoff
        ).filter(
            # One negated Q: Tortoise's exclude(a=…, b=…) means "not a and not b".
            ~(Q(kind=REVIEW_CARD_KIND) & Q(content_id__in=Subquery(in_review)))
        )
        deleted = 0
        while True:
            ids = await settled.order_by("id").limit(batch).values_list("id", flat=True)
            if not ids:
                return deleted
            deleted += await OutboxMessage.filter(id__in=ids).delete()

    # --- internals -----------------------------------------------------------------------------

    async def _settle(self, delivery: Delivery, **fields: Any) -> bool:
        done = await OutboxMessage.filter(
            id=delivery.message.id, lease_token=delivery.token, status=OutboxStatus.SENDING
        ).update(lease_token=None, lease_until=None, **fields)
        return bool(done)

    async def _deliveries(self, rows: list[OutboxMessage]) -> list[Delivery]:
        if not rows:
            return []
        user_ids = {row.user_id for row in rows if row.user_id is not None}
        links = {
            link.user_id: link for link in await TelegramLink.filter(user_id__in=list(user_ids))
        }
        languages = dict(await User.filter(id__in=list(user_ids)).values_list("id", "language"))
        default = self._settings.default_language
        deliveries = []
        for row in rows:
            if row.user_id is None:
                # A group chat: no link to follow, no person to be unreachable.
                deliveries.append(
                    Delivery(
                        message=row,
                        chat_id=row.chat_id,
                        language=row.language or default,
                        reachable=row.chat_id is not None,
                    )
                )
                continue
            link = links.get(row.user_id)
            deliveries.append(
                Delivery(
                    message=row,
                    chat_id=None if link is None else (row.chat_id or link.chat_id),
                    language=str(languages.get(row.user_id) or row.language or default),
                    reachable=link is not None and link.unreachable_since is None,
                )
            )
        return deliveries


async def clear_unreachable(telegram_user_id: int) -> bool:
    """Clear the account's "unreachable" mark; True when it had one."""
    changed = await TelegramLink.filter(
        telegram_user_id=telegram_user_id, unreachable_since__not_isnull=True
    ).update(unreachable_since=None)
    return bool(changed)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
