"""The bot lease and the fence on getUpdates, in one process against real Redis and the fake."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from telegram import Bot

from bot.fence import Fence, FencedRequest
from bot.leadership import Leadership
from bot.lease import BotLease, lease_key, read_holder
from bot.update_queue import StreamDepth, UpdateStream
from core.settings import Settings
from tests.fakes.bot_api import FakeBotApi

pytestmark = pytest.mark.redis


class Monotonic:
    """A monotonic clock the test moves (a process paused past its lease)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lease(redis: Redis, settings: Settings, name: str, clock: Monotonic) -> BotLease:
    return BotLease(
        redis, prefix=settings.redis_key_prefix, instance=name, seconds=5, monotonic=clock
    )


async def test_one_holder_at_a_time_with_a_token_that_grows_on_every_acquisition(
    clean_redis: Redis, settings: Settings
) -> None:
    clock = Monotonic()
    first, second = (_lease(clean_redis, settings, n, clock) for n in ("a", "b"))
    token = await first.acquire()
    assert token is not None
    assert await second.acquire() is None
    assert await first.holds() and not await second.holds()
    holder = await read_holder(clean_redis, settings.redis_key_prefix)
    assert holder is not None and (holder.instance, holder.token) == ("a", token)
    assert 0 < holder.expires_in_seconds <= 5

    await first.release()
    assert not await first.holds()
    assert await read_holder(clean_redis, settings.redis_key_prefix) is None
    assert await second.acquire() == token + 1
    assert not await first.renew()  # a released lease is not renewed back
    assert await second.renew() and await second.holds()


async def test_a_holder_paused_past_its_lease_is_fenced_before_asking_redis(
    clean_redis: Redis, settings: Settings
) -> None:
    clock = Monotonic()
    lease = _lease(clean_redis, settings, "a", clock)
    await lease.acquire()
    clock.now += 4  # inside the lease
    assert await lease.holds()
    clock.now += 1  # past the share of it this process trusts; Redis still has it
    assert await clean_redis.exists(lease.key)
    assert not await lease.holds()


async def test_a_lease_taken_over_is_not_renewed_and_fences_its_old_holder(
    clean_redis: Redis, settings: Settings
) -> None:
    clock = Monotonic()
    old, new = (_lease(clean_redis, settings, n, clock) for n in ("old", "new"))
    token = await old.acquire()
    await clean_redis.delete(old.key)  # as if it expired while the old holder was away
    assert await new.acquire() == token + 1
    assert not await old.holds()
    assert not await old.renew()
    assert await new.holds()


async def test_the_fence_drops_a_batch_that_arrives_after_the_lease_was_lost(
    bot_api: FakeBotApi,
) -> None:
    permitted = True
    refusals: list[bool] = []

    async def check() -> bool:
        return permitted

    fence = Fence()
    fence.bind(check, lambda: refusals.append(True))
    request = FencedRequest(fence, connection_pool_size=1)
    async with Bot(bot_api.token, base_url=bot_api.base_url, get_updates_request=request) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=5))
        await bot_api.wait_until(lambda: bot_api.waiting_polls == 1)
        permitted = False  # the lease is lost while the poll is held
        bot_api.user_sends_text(42, "hello")
        assert await poll == ()
        assert refusals == [True]
        taken = bot_api.calls_to("getUpdates")[-1]
        assert taken.ok and len(taken.result) == 1  # Telegram sent it; this process dropped it

        calls = len(bot_api.calls_to("getUpdates"))
        assert await bot.get_updates(timeout=0) == ()
        assert len(bot_api.calls_to("getUpdates")) == calls  # refused before it was sent

        permitted = True
        updates = await bot.get_updates(timeout=0)
        assert [u.message.text for u in updates] == ["hello"]  # still there for a leader


async def test_the_stream_keeps_what_a_dead_reader_took_for_the_next_in_order(
    clean_redis: Redis, settings: Settings
) -> None:
    stream = UpdateStream(clean_redis, settings.redis_key_prefix)
    await stream.ensure_group()
    for update_id in (1, 2, 3):
        assert await stream.append(update_id, f'{{"update_id": {update_id}}}'.encode())
    assert not await stream.append(2, b'{"update_id": 2}')  # Telegram's repeat: stored once
    taken = await stream.read_new("dead", 2)  # read, never acknowledged
    assert [body for _, body in taken] == [b'{"update_id": 1}', b'{"update_id": 2}']
    assert (await stream.depth()).pending == 2

    cursor, claimed = await stream.claim_pending("next", "0-0")
    assert cursor == "0-0" and claimed == taken
    rest = await stream.read_new("next", 10)
    assert [body for _, body in rest] == [b'{"update_id": 3}']
    for entry_id, _ in claimed + rest:
        await stream.ack(entry_id)
    assert await stream.depth() == StreamDepth(length=0, pending=0)
    await stream.forget_consumers(keep="next")
    consumers = await clean_redis.xinfo_consumers(stream.key, "bot")
    assert [c["name"] for c in consumers] == [b"next"]


class RecordingConsumer:
    """Stands in for polling: records starts and stops."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.changed = asyncio.Event()

    async def start(self) -> None:
        self.events.append("start")
        self.changed.set()

    async def stop(self) -> None:
        self.events.append("stop")
        self.changed.set()

    async def wait_for(self, events: list[str]) -> None:
        async with asyncio.timeout(10):
            while self.events != events:
                await self.changed.wait()
                self.changed.clear()


async def test_leadership_hands_over_on_stop_stands_down_when_lost_and_leads_again(
    clean_redis: Redis, settings: Settings
) -> None:
    prefix = settings.redis_key_prefix

    def leadership(name: str) -> tuple[Leadership, RecordingConsumer]:
        consumer = RecordingConsumer()
        lease = BotLease(clean_redis, prefix=prefix, instance=name, seconds=1)
        return Leadership(lease, consumer), consumer

    first, first_consumer = leadership("first")
    second, second_consumer = leadership("second")
    await first.start()
    await second.start()
    assert first.leading and not second.leading
    assert first_consumer.events == ["start"] and second_consumer.events == []

    await first.stop()  # released: the standby starts without waiting for the expiry
    await second_consumer.wait_for(["start"])
    assert first_consumer.events == ["start", "stop"]

    # Lost, as after a pause past the lease: another took it meanwhile.
    await clean_redis.delete(lease_key(prefix))
    rival = BotLease(clean_redis, prefix=prefix, instance="rival", seconds=5)
    assert await rival.acquire() is not None
    await second_consumer.wait_for(["start", "stop"])
    assert not second.leading
    await rival.release()
    await second_consumer.wait_for(["start", "stop", "start"])  # the same process leads again
    await second.stop()
    assert second_consumer.events == ["start", "stop", "start", "stop"]
    assert await read_holder(clean_redis, prefix) is None


async def test_a_leader_fenced_by_its_own_deadline_gives_the_lease_up_at_once(
    clean_redis: Redis, settings: Settings
) -> None:
    clock = Monotonic()
    consumer = RecordingConsumer()
    lease = BotLease(
        clean_redis, prefix=settings.redis_key_prefix, instance="slow", seconds=60, monotonic=clock
    )
    leadership = Leadership(lease, consumer)
    fence = Fence()
    fence.bind(lease.holds, leadership.fenced)
    await leadership.start()
    first_token = lease.token
    clock.now += 60  # its loop stalled past the lease; Redis has not expired it yet
    assert not await fence.permits()
    # It stops, releases (no 60 s wait for the expiry) and, alone, leads again with a new token.
    await consumer.wait_for(["start", "stop", "start"])
    assert lease.token == first_token + 1 and await fence.permits()
    await leadership.stop()


class SwallowingLease:
    """A lease whose renewal swallows its first cancellation, as a Redis call caught at the
    wrong moment can: the loop carries on as if nothing had been asked of it."""

    seconds = 0.3
    instance = "swallowing"
    held = True

    def __init__(self) -> None:
        self.renewing = asyncio.Event()
        self.swallowed = 0
        self.released = False

    async def acquire(self) -> int:
        return 1

    async def renew(self) -> bool:
        self.renewing.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if self.swallowed:  # only the first (so a failing run still ends)
                raise
            self.swallowed += 1
        return True

    async def release(self) -> None:
        self.released = True


async def test_stop_ends_the_lease_loop_even_when_a_cancellation_is_swallowed() -> None:
    lease, consumer = SwallowingLease(), RecordingConsumer()
    leadership = Leadership(lease, consumer)  # type: ignore[arg-type]
    await leadership.start()
    assert leadership.leading
    await asyncio.wait_for(lease.renewing.wait(), 5)  # the loop is inside a renewal now
    stopping = asyncio.create_task(leadership.stop())
    done, _ = await asyncio.wait({stopping}, timeout=10)
    assert stopping in done, "stop() hung on the swallowed cancellation"
    assert lease.swallowed == 1
    assert consumer.events == ["start", "stop"] and lease.released and not leadership.leading
