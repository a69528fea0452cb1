"""Webhook updates across replicas: any replica receives, the leader processes (a Redis stream).

A load balancer may send Telegram's POST to any replica. The route (``bot/webhook.py``) checks
the secret and appends the update to one Redis stream, then answers 200: an update Telegram
saw acknowledged is already stored. The append is skipped when the update id was seen in the
last day (Telegram sends an update again when it missed our answer), so each is processed once.

The leader (``bot/leadership.py``) consumes the stream through a consumer group: entries it has
read stay pending until it has processed them, then they are acknowledged and deleted. A new
leader first claims every pending entry (those of a leader that died mid-batch), in stream
order, then reads new ones; so nothing acknowledged to Telegram is lost. Updates are handed to
PTB's update processor in stream order (``bot/processor.py`` keeps each user's in order while
users run concurrently). The fence is asked before each batch is read and again before it is
processed; a batch refused stays pending for the next leader.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError
from telegram import Update
from telegram.ext import Application

from bot.app import FENCE
from bot.fence import FENCED_PAUSE_SECONDS
from bot.turn import SERVICES
from bot.webhook import set_webhook
from core.cancellation import cancel_and_wait
from core.services.leases import THIS_INSTANCE

logger = logging.getLogger("contexor.bot")

GROUP = "bot"
# Telegram keeps an undelivered update for a day; a repeat inside that is the same update.
SEEN_SECONDS = 24 * 3600
BATCH = 100
MAX_IN_FLIGHT = 256
READ_BLOCK_MS = 1000
# How long a clean stop waits for updates being processed; the rest stay pending (claimed by
# the next leader, processed again).
STOP_GRACE_SECONDS = 10.0

_APPEND = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
  return redis.call('XADD', KEYS[1], '*', 'update', ARGV[1])
end
return false
"""


def stream_key(prefix: str) -> str:
    return f"{prefix}bot:updates"


@dataclass(frozen=True)
class StreamDepth:
    """Entries in the stream (not yet processed) and those taken but not yet acknowledged."""

    length: int
    pending: int


class UpdateStream:
    """The stream's operations; see the module notes."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self.key = stream_key(prefix)
        self._append = redis.register_script(_APPEND)

    async def append(self, update_id: int, body: bytes) -> bool:
        """Store one update; False when the same update id was stored already."""
        seen = f"{self._prefix}bot:seen:{update_id}"
        return bool(await self._append(keys=[self.key, seen], args=[body, SEEN_SECONDS]))

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def claim_pending(self, consumer: str, start: str) -> tuple[str, list[tuple[str, bytes]]]:
        """One page of the entries pending for any consumer, now ours; and the next cursor."""
        answer = await self._redis.xautoclaim(
            self.key, GROUP, consumer, min_idle_time=0, start_id=start, count=BATCH
        )
        cursor, entries = answer[0], answer[1]
        return _text(cursor), _bodies(entries)

    async def forget_consumers(self, keep: str) -> None:
        """Drop the group's other consumers with nothing pending (each process is a new one)."""
        for consumer in await self._redis.xinfo_consumers(self.key, GROUP):
            name = _text(consumer["name"])
            if name != keep and int(consumer["pending"]) == 0:
                await self._redis.xgroup_delconsumer(self.key, GROUP, name)

    async def read_new(self, consumer: str, count: int) -> list[tuple[str, bytes]]:
        answer = await self._redis.xreadgroup(
            GROUP, consumer, {self.key: ">"}, count=count, block=READ_BLOCK_MS
        )
        return _bodies(answer[0][1]) if answer else []

    async def ack(self, entry_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.xack(self.key, GROUP, entry_id).xdel(self.key, entry_id).execute()

    async def depth(self) -> StreamDepth:
        length = await self._redis.xlen(self.key)
        try:
            summary = await self._redis.xpending(self.key, GROUP)
        except ResponseError:  # no group yet: nothing was ever consumed
            return StreamDepth(length=length, pending=0)
        return StreamDepth(length=length, pending=int(summary["pending"]))


class StreamConsumer:
    """The leader's side: ``setWebhook``, then process the stream until stopped."""

    def __init__(self, application: Application) -> None:
        services = application.bot_data[SERVICES]
        self._application = application
        self._stream = UpdateStream(services.redis, services.settings.redis_key_prefix)
        self._fence = application.bot_data[FENCE]
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._in_flight: set[asyncio.Task] = set()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await set_webhook(self._application, self._application.bot_data[SERVICES].settings)
        await self._stream.ensure_group()
        self._task = asyncio.create_task(self._consume(), name="bot-update-stream")
        logger.info("Telegram bot processing webhook updates from the shared stream")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)  # its Redis calls may swallow one cancel()
            self._task = None
        if self._in_flight:
            _, late = await asyncio.wait(set(self._in_flight), timeout=STOP_GRACE_SECONDS)
            for task in late:
                task.cancel()

    async def _consume(self) -> None:
        cursor: str | None = "0-0"  # first the entries a previous leader left pending
        while True:
            try:
                if not await self._fence.permits():
                    await asyncio.sleep(FENCED_PAUSE_SECONDS)
                    continue
                if cursor is not None:
                    cursor, entries = await self._stream.claim_pending(THIS_INSTANCE, cursor)
                    if cursor == "0-0":  # all claimed: earlier leaders hold nothing now
                        cursor = None
                        await self._stream.forget_consumers(keep=THIS_INSTANCE)
                else:
                    entries = await self._stream.read_new(THIS_INSTANCE, self._free_slots())
                if entries and not await self._fence.permits():
                    continue  # they stay pending: the next leader claims them
            except (RedisError, OSError) as exc:
                logger.warning("reading the update stream failed (%s); retrying", exc)
                await asyncio.sleep(1.0)
                continue
            for entry_id, body in entries:
                await self._dispatch(entry_id, body)

    def _free_slots(self) -> int:
        # A full house still reads one entry; _dispatch then waits for a slot, so a slow batch
        # holds reading back instead of filling memory.
        return max(1, min(BATCH, MAX_IN_FLIGHT - len(self._in_flight)))

    async def _dispatch(self, entry_id: str, body: bytes) -> None:
        try:
            update = Update.de_json(json.loads(body), self._application.bot)
        except (ValueError, TypeError, KeyError):
            logger.warning("update stream: an undecodable entry %s was dropped", entry_id)
            await self._ack(entry_id)
            return
        await self._slots.acquire()
        task = asyncio.create_task(self._process(entry_id, update), name=f"update-{entry_id}")
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _process(self, entry_id: str, update: Update) -> None:
        application = self._application
        try:
            await application.update_processor.process_update(
                update, application.process_update(update)
            )
        except Exception:  # the error handler has answered the person; the update is done
            logger.exception("update %s failed", update.update_id)
        finally:
            self._slots.release()
        await self._ack(entry_id)

    async def _ack(self, entry_id: str) -> None:
        try:
            await self._stream.ack(entry_id)
        except (RedisError, OSError) as exc:  # pending still: processed again by a next leader
            logger.warning("could not acknowledge update stream entry %s: %s", entry_id, exc)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bodies(entries) -> list[tuple[str, bytes]]:
    """(entry id, update body) pairs; entries deleted meanwhile come without fields."""
    return [(_text(entry_id), fields[b"update"]) for entry_id, fields in entries if fields]
