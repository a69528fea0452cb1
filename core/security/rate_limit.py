"""Request rate limits over the ``limits`` library: shared in Redis, in-process without it.

``limits`` keeps its own wall-clock windows (``time.time()``), not the injected clock: a window
of "5 per minute" is about real request bursts, whereas codes, cooldowns and tokens, which must
agree with the database, follow the clock. Do not install ``limits[redis]``: it pins ``redis<8``;
the ``redispy`` implementation works with the redis client we already have, and shares its pool.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

from core.errors import ServiceUnavailable
from core.settings import Settings

KEY_PREFIX = "limits"


def parse_rate(rate: str) -> RateLimitItem:
    """``"5/minute"`` as a limit; a malformed setting fails at start-up, not per request."""
    return parse(rate)


@dataclass(frozen=True)
class Refusal:
    """A refused hit: which bucket, and how many seconds until it has room again."""

    key: str
    retry_after: int


class RateLimiter:
    """Moving-window limits per key; ``hit`` counts and refuses atomically."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    @classmethod
    def in_memory(cls) -> RateLimiter:
        """Limits for one process (no Redis configured)."""
        return cls(MemoryStorage())

    @classmethod
    def on_redis(cls, client: aioredis.Redis, *, namespace: str = "") -> RateLimiter:
        """Limits shared by every process on ``client``'s pool, keys under ``namespace``."""
        # The pool carries the real address and options; the URI only picks limits' redis-py
        # bridge (a unix:// or rediss:// REDIS_URL would otherwise need rewriting).
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            key_prefix=namespace + KEY_PREFIX,
            connection_pool=client.connection_pool,
        )
        return cls(storage)

    async def hit(self, item: RateLimitItem, *keys: str) -> Refusal | None:
        """Count one request against ``rate`` for each key in order; stop at the first refusal.

        Callers put the caller's own buckets (address, Telegram account) before shared ones
        (the phone), so a caller refused by their own limit does not use up a victim's budget.
        """
        try:
            for key in keys:
                if not await self._limiter.hit(item, key):
                    stats = await self._limiter.get_window_stats(item, key)
                    wait = math.ceil(stats.reset_time - time.time())
                    return Refusal(key=key, retry_after=max(1, wait))
        except RedisError as exc:
            # Failing closed: without the shared counts, codes could be requested unbounded.
            raise ServiceUnavailable("rate_limit_unavailable") from exc
        return None

    async def aclose(self) -> None:
        """Stop the in-memory expiry task; a Redis storage shares the container's pool."""
        if isinstance(self._storage, MemoryStorage) and self._storage.timer is not None:
            self._storage.timer.cancel()


def build_rate_limiter(settings: Settings, redis: aioredis.Redis | None) -> RateLimiter:
    """Limits shared in Redis under ``REDIS_KEY_PREFIX`` when configured, else in-process."""
    if redis is not None:
        return RateLimiter.on_redis(redis, namespace=settings.redis_key_prefix)
    return RateLimiter.in_memory()
