"""The bot lease in Redis: which replica may take Telegram updates, with a fencing token.

Telegram lets one consumer take a bot's updates at a time (a second ``getUpdates`` is answered
409 Conflict), so replicas elect one through a lease (``docs/scaling.md``):

- ``acquire`` is ``SET key value NX PX ttl`` and, when it wins, ``INCR`` of the fence counter,
  both inside one Lua script; the value names the holder, its token and since when. The token
  grows on every acquisition, so a newer holder always has the larger one.
- ``renew`` extends the lease only while the value is still ours (compare and ``PEXPIRE``);
  the holder renews every third of the lease, well inside its expiry.
- ``release`` deletes the lease only while it is ours and publishes on a channel, so a standby
  takes over at once instead of waiting for the expiry.
- ``holds`` is the fence, asked before each batch of updates is taken: our local deadline (a
  monotonic clock, which keeps running while the process is paused) has not passed, and Redis
  still has our value. A holder that was paused or partitioned past its lease therefore stops
  before it takes anything, even before it has talked to Redis again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger("contexor.bot")

# The holder trusts its lease for this share of the TTL after the renewal was sent (the rest
# absorbs clock-rate differences between this host and Redis).
LOCAL_TRUST = 0.9

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
local value = cjson.encode({instance = ARGV[1], token = token, since = ARGV[2]})
redis.call('SET', KEYS[1], value, 'NX', 'PX', ARGV[3])
return {token, value}
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds the lease (read by ``contexor status``)."""

    instance: str
    token: int
    since: datetime
    expires_in_seconds: float


class BotLease:
    """One process's handle on the shared lease; see the module notes."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        prefix: str,
        instance: str,
        seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self.key = lease_key(prefix)
        self._fence_key = f"{prefix}bot:lease:fence"
        self._channel = f"{prefix}bot:lease:released"
        self.instance = instance
        self.seconds = seconds
        self._ttl_ms = max(1, int(seconds * 1000))
        self._monotonic = monotonic
        self._value: str | None = None
        self.token: int | None = None
        self._deadline = 0.0
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self) -> int | None:
        """Take the lease if it is free; the new fencing token, or None when another holds it."""
        started = self._monotonic()
        since = datetime.now(UTC).isoformat(timespec="seconds")
        won = await self._acquire(
            keys=[self.key, self._fence_key], args=[self.instance, since, self._ttl_ms]
        )
        if not won:
            return None
        token, value = won
        self.token = int(token)
        self._value = value.decode() if isinstance(value, bytes) else str(value)
        self._deadline = started + self.seconds * LOCAL_TRUST
        return self.token

    async def renew(self) -> bool:
        """Extend the lease while it is ours; False once it is not (it expired or was taken)."""
        if self._value is None:
            return False
        started = self._monotonic()
        if await self._renew(keys=[self.key], args=[self._value, self._ttl_ms]):
            self._deadline = started + self.seconds * LOCAL_TRUST
            return True
        self._forget()
        return False

    async def release(self) -> None:
        """Give the lease up (clean shutdown) and wake the standbys."""
        value, self._value = self._value, None
        self._forget()
        if value is not None:
            await self._release(keys=[self.key, self._channel], args=[value])

    async def holds(self) -> bool:
        """The fence: may this process take a batch of updates now?"""
        if self._value is None or self._monotonic() >= self._deadline:
            return False
        try:
            current = await self._redis.get(self.key)
        except (RedisError, OSError):
            # Unreachable: nobody else can take it before our deadline, which still stands.
            return self._monotonic() < self._deadline
        current = current.decode() if isinstance(current, bytes) else current
        return current == self._value

    @property
    def held(self) -> bool:
        """Whether we believe we hold it (no Redis round trip)."""
        return self._value is not None and self._monotonic() < self._deadline

    async def wait_turn(self, pubsub: aioredis.client.PubSub | None) -> None:
        """Stand by until the lease is released or its expiry (at most one lease period)."""
        try:
            remaining_ms = await self._redis.pttl(self.key)
        except (RedisError, OSError):
            remaining_ms = -1
        # -2: no key (free now), -1: no expiry (never set by us; retry in a lease period).
        wait = self.seconds if remaining_ms == -1 else max(remaining_ms, 0) / 1000 + 0.01
        wait = min(wait, self.seconds)
        if pubsub is None or wait <= 0.01:
            await asyncio.sleep(wait)
            return
        deadline = self._monotonic() + wait
        while (left := deadline - self._monotonic()) > 0:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
            if message is not None:
                return

    async def subscribe(self) -> aioredis.client.PubSub:
        """A subscription to the release channel (for ``wait_turn``)."""
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._channel)
        return pubsub

    def _forget(self) -> None:
        self._value = None
        self._deadline = 0.0


def lease_key(prefix: str) -> str:
    return f"{prefix}bot:lease"


async def read_holder(redis: aioredis.Redis, prefix: str) -> LeaseHolder | None:
    """The current holder, or None when the lease is free."""
    key = lease_key(prefix)
    async with redis.pipeline(transaction=True) as pipe:
        value, ttl_ms = await pipe.get(key).pttl(key).execute()
    if value is None:
        return None
    data = json.loads(value)
    return LeaseHolder(
        instance=str(data["instance"]),
        token=int(data["token"]),
        since=datetime.fromisoformat(data["since"]),
        expires_in_seconds=max(int(ttl_ms), 0) / 1000,
    )
