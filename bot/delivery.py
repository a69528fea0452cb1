"""The notification delivery worker: sends outbox rows with the bot (docs/architecture.md §4).

Rows are written by ``core`` in the transaction of the change (``core/services/outbox.py``
explains claiming, leases and the crash windows). This worker, which runs in the one process
that runs the bot, claims due rows in batches and sends them (each person's in row order,
different people concurrently) and settles each row according to Telegram's answer:

==========================================  ==================================================
answer                                      what happens to the row
==========================================  ==================================================
message sent                                ``sent`` (with the chat and message id)
edit row, edited or "not modified"          ``sent`` (an edit row changes the message its
                                            ``original_id`` row became; it waits while that
                                            row is unsent, gives up if it was given up)
429 ``RetryAfter``                          back to ``pending`` after ``retry_after`` (the try
                                            is not counted); the worker pauses all sends that
                                            long, as Telegram asks, and hands back the rest of
                                            its batch
403 ``Forbidden`` (bot blocked)             ``failed``; the person's link is marked unreachable
                                            and their other rows are given up without a call
                                            until they write to the bot again; for a review
                                            group's card, the group is unbound and its cards
                                            go to each editor (``ReviewService``)
400 ``BadRequest`` (chat not found, …)      ``failed``: retrying cannot help
5xx, timeout, network error, other errors   retried with doubling backoff; ``failed`` with the
                                            last error after ``OUTBOX_MAX_ATTEMPTS`` tries
no Telegram link, unknown kind              ``failed`` with the reason
==========================================  ==================================================

Some kinds are not messages but something to do in the person's chat (``menu_changed``: set
their / menu again). The worker is given an *action* for each such kind and runs it in place
of ``send_message``, under the same table: a row is settled by the action's Telegram answer.

A timeout is ambiguous (Telegram may have delivered the message): it is retried, preferring a
rare duplicate over a lost notification.

Wiring (``bot/runtime.py``): after ``application.start()`` start the worker with
``worker = DeliveryWorker(application.bot, services); worker.start()`` and register
:func:`register_reachability`; before ``application.stop()`` ``await worker.stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from telegram import Bot, Message, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.outbox_render import UnknownKind, render
from bot.turn import keep_start
from core.cancellation import cancel_and_wait
from core.container import Services
from core.services.notifications import EDIT_KINDS, KIND_CONTENT_SUBMITTED
from core.services.outbox import REASON_NOT_LINKED, REASON_UNREACHABLE, Delivery
from db.models import OutboxStatus

logger = logging.getLogger(__name__)

PURGE_EVERY_SECONDS = 3600.0
REACHABILITY_GROUP = -1  # before every feature handler; it never stops an update


@dataclass
class PassReport:
    """What one pass did: counts per outcome, and how long Telegram asked us to pause."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    pause_seconds: float = 0.0
    blocked_users: set[int] = field(default_factory=set)
    # Group chats that refused a review card in this pass: their other cards go to editors.
    refused_chats: set[int] = field(default_factory=set)


# What a row of a kind that is not a message does, with Telegram's errors raised.
DeliveryAction = Callable[[Delivery], Awaitable[None]]


class DeliveryWorker:
    """Claims and sends due outbox rows until stopped; one per bot process."""

    def __init__(
        self,
        bot: Bot,
        services: Services,
        actions: Mapping[str, DeliveryAction] | None = None,
    ) -> None:
        self._bot = bot
        self._actions = dict(actions or {})
        self._outbox = services.outbox
        self._review = services.review
        self._settings = services.settings
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_purge: float | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Run :meth:`run` as a task of the current loop (kept here, so it is not collected)."""
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.create_task(self.run(), name="outbox-delivery")
        return self._task

    async def stop(self) -> None:
        """Finish the message being sent, hand back the rest of the batch, and end."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        grace = self._settings.outbox_send_timeout_seconds + 5
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=grace)
        except TimeoutError:
            await cancel_and_wait(task)

    async def run(self) -> None:
        """Deliver until :meth:`stop`: a pass, then a pause when idle or when Telegram asks."""
        logger.info("notification delivery started")
        while not self._stopping.is_set():
            try:
                report = await self.deliver_once()
                await self._maybe_purge()
            except Exception:
                # The database may be briefly away; nothing is lost, the rows wait.
                logger.exception("notification delivery pass failed")
                report = PassReport()
            if report.pause_seconds:
                await self._sleep(report.pause_seconds)
            elif report.claimed < self._settings.outbox_batch_size:
                await self._sleep(self._settings.outbox_poll_seconds)
        logger.info("notification delivery stopped")

    # --- one pass ------------------------------------------------------------------------------

    async def deliver_once(self) -> PassReport:
        """Claim one batch and settle every row of it.

        Each person's rows go out one after another, in row order; different people are
        served concurrently, up to ``OUTBOX_CONCURRENCY`` at a time.
        """
        deliveries = await self._outbox.claim()
        report = PassReport(claimed=len(deliveries))
        by_person: dict[object, list[Delivery]] = {}
        for delivery in deliveries:
            # A group row has no person: it queues behind the other rows of its chat.
            who = delivery.message.user_id or ("chat", delivery.message.chat_id)
            by_person.setdefault(who, []).append(delivery)
        slots = asyncio.Semaphore(self._settings.outbox_concurrency)

        async def serve(rows: list[Delivery]) -> None:
            async with slots:
                for index, delivery in enumerate(rows):
                    if report.pause_seconds or self._stopping.is_set():
                        # Telegram asked for a pause, or we are stopping: hand back untried.
                        for rest in rows[index:]:
                            await self._outbox.retry(
                                rest,
                                error="handed back",
                                after_seconds=report.pause_seconds,
                                count_attempt=False,
                            )
                            report.retried += 1
                        return
                    await self._deliver(delivery, report)

        outcomes = await asyncio.gather(
            *(serve(rows) for rows in by_person.values()), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                # A database error: the rows it left claimed are taken again after their lease.
                raise outcome
        return report

    async def _deliver(self, delivery: Delivery, report: PassReport) -> None:
        message = delivery.message
        if delivery.chat_id is None:
            await self._give_up(delivery, report, REASON_NOT_LINKED)
            return
        if not delivery.reachable or message.user_id in report.blocked_users:
            await self._give_up(delivery, report, REASON_UNREACHABLE)
            return
        if message.user_id is None and delivery.chat_id in report.refused_chats:
            await self._give_up(delivery, report, "review chat refused")
            if message.kind == KIND_CONTENT_SUBMITTED:  # claimed with the refused one
                await self._review_chat_refused(delivery)
            return
        action = self._actions.get(message.kind)
        if action is None:
            try:
                rendered = render(
                    message.kind, message.payload, delivery.language, zone=self._settings.zone
                )
            except UnknownKind:
                await self._give_up(delivery, report, f"unknown kind {message.kind!r}")
                return
        timeout = self._settings.outbox_send_timeout_seconds
        timeouts = {
            "connect_timeout": timeout,
            "read_timeout": timeout,
            "write_timeout": timeout,
            "pool_timeout": timeout,
        }
        if action is not None:
            call = action(delivery)
        elif message.kind in EDIT_KINDS:
            target = await self._edit_target(delivery, report)
            if target is None:
                return
            call = self._bot.edit_message_text(
                chat_id=target[0], message_id=target[1], text=rendered.text, **timeouts
            )
        else:
            call = self._bot.send_message(
                chat_id=delivery.chat_id,
                text=rendered.text,
                reply_markup=rendered.reply_markup,
                **timeouts,
            )
        try:
            sent = await call
        except RetryAfter as exc:
            pause = _seconds(exc.retry_after)
            report.pause_seconds = max(report.pause_seconds, pause)
            await self._outbox.retry(
                delivery, error=f"429: {exc.message}", after_seconds=pause, count_attempt=False
            )
            report.retried += 1
            logger.warning("Telegram asked for a %.0f s pause", pause)
        except Forbidden as exc:
            if message.user_id is not None:  # a person blocked the bot (not: removed from a group)
                await self._outbox.mark_unreachable(user_id=message.user_id)
                report.blocked_users.add(message.user_id)
            await self._give_up(delivery, report, f"403: {exc.message}")
            if message.user_id is None and message.kind == KIND_CONTENT_SUBMITTED:
                report.refused_chats.add(delivery.chat_id)
                await self._review_chat_refused(delivery)
        except BadRequest as exc:
            if message.kind in EDIT_KINDS and "not modified" in exc.message.lower():
                # The message already reads so (the presser's own copy, edited at the press).
                await self._outbox.mark_sent(delivery)
                report.sent += 1
                return
            await self._give_up(delivery, report, f"400: {exc.message}")
        except TelegramError as exc:  # 5xx, NetworkError, TimedOut, InvalidToken, ...
            await self._outbox.retry(delivery, error=f"{type(exc).__name__}: {exc.message}")
            report.retried += 1
        else:
            if isinstance(sent, Message):
                await self._outbox.mark_sent(
                    delivery, chat_id=sent.chat_id, message_id=sent.message_id
                )
            else:  # an action (no message of its own), or an edit answered True
                await self._outbox.mark_sent(delivery, chat_id=delivery.chat_id)
            report.sent += 1

    async def _edit_target(self, delivery: Delivery, report: PassReport) -> tuple[int, int] | None:
        """Where the message an edit row changes landed; None (settled) when it cannot be
        edited (yet): an original still on its way makes the edit wait for it, one given up
        leaves nothing to edit."""
        original = await self._outbox.original(delivery)
        if original is None or original.status == OutboxStatus.FAILED:
            await self._give_up(delivery, report, "the message to edit was never delivered")
            return None
        if original.status != OutboxStatus.SENT:
            await self._outbox.retry(
                delivery,
                error="waiting for the message to edit",
                after_seconds=self._settings.outbox_poll_seconds,
                count_attempt=False,
            )
            report.retried += 1
            return None
        if original.sent_chat_id is None or original.sent_message_id is None:
            await self._give_up(delivery, report, "the message to edit has no recorded id")
            return None
        return original.sent_chat_id, original.sent_message_id

    async def _review_chat_refused(self, delivery: Delivery) -> None:
        """A review group refused a card: the group is unbound, its cards go to each editor."""
        chat_id = delivery.message.chat_id
        assert chat_id is not None
        resent = await self._review.review_chat_refused(
            chat_id=chat_id, card_id=delivery.message.id
        )
        logger.warning(
            "review group %s refused a card (403): unbound, %d cards sent to each editor",
            chat_id,
            resent,
        )

    async def _give_up(self, delivery: Delivery, report: PassReport, reason: str) -> None:
        await self._outbox.give_up(delivery, reason=reason)
        report.failed += 1
        logger.info("notification %s given up: %s", delivery.message.id, reason)

    # --- helpers -------------------------------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        """Sleep, waking at once when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _maybe_purge(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._last_purge is not None and now - self._last_purge < PURGE_EVERY_SECONDS:
            return
        self._last_purge = now
        purged = await self._outbox.purge()
        if purged:
            logger.info("purged %d settled notifications", purged)


async def run_delivery(bot: Bot, services: Services, *, stop: asyncio.Event) -> None:
    """Deliver until ``stop`` is set (for callers that prefer an event to a worker object)."""
    worker = DeliveryWorker(bot, services)
    worker.start()
    try:
        await stop.wait()
    finally:
        await worker.stop()


def register_reachability(application: Application, services: Services) -> None:
    """Track whether each person can be written to, from every update (handler group -1).

    Anything a person sends (a message, a press) clears their "unreachable" mark; Telegram's
    own notice that they blocked the bot (``my_chat_member``, kicked) sets it at once. The
    same notice for a group unbinds it wherever it was an organisation's review group.
    """

    async def track(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        if user is None or user.is_bot:
            return
        try:
            change = update.my_chat_member
            if change is not None and change.new_chat_member.status in _GONE:
                if change.chat.type == ChatType.PRIVATE:
                    await services.outbox.mark_unreachable(telegram_user_id=user.id)
                elif await services.review.forget_review_chat(chat_id=change.chat.id):
                    # The bot left a review group: cards go to each editor again.
                    logger.info("review group %s unbound: the bot was removed", change.chat.id)
            elif update.effective_chat is not None:
                # One statement clears the mark and reads what the update's handler starts
                # from (bot/turn.py), which takes it from the context.
                start = await services.telegram.begin_update(update.effective_chat.id, user.id)
                keep_start(context, start)
                if start.reached:
                    logger.info("Telegram user %s is reachable again", user.id)
            elif await services.outbox.mark_reachable(user.id):
                logger.info("Telegram user %s is reachable again", user.id)
        except Exception:
            # Bookkeeping only: it must never stand between the person and their handler.
            logger.exception("could not update the reachability of Telegram user %s", user.id)

    application.add_handler(TypeHandler(Update, track), group=REACHABILITY_GROUP)


_GONE = frozenset({ChatMemberStatus.BANNED, ChatMemberStatus.LEFT})


def _seconds(retry_after: timedelta | float) -> float:
    if isinstance(retry_after, timedelta):
        return retry_after.total_seconds()
    return float(retry_after)
