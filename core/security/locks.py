"""Exclusive, non-blocking claims per key: "is someone already doing this for that phone?".

With Redis the claim is a ``SET NX`` lock shared by every process (released by token, so a late
holder never frees someone else's claim); without Redis the product runs one process, and a set
of keys in flight is enough because checking and adding happen without an ``await`` between.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import redis.asyncio as aioredis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

from core.errors import ServiceUnavailable

KEY_PREFIX = "claim:"


class ExclusiveClaims:
    """``async with claims.hold(key) as held:``; ``held`` is False when another holds ``key``."""

    def __init__(
        self, redis: aioredis.Redis | None, *, timeout_seconds: float, namespace: str = ""
    ) -> None:
        self._redis = redis
        self._prefix = namespace + KEY_PREFIX
        self._timeout = timeout_seconds  # a crashed holder's claim lapses after this
        self._local: set[str] = set()

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[bool]:
        """Claim ``key`` for the block if nobody holds it; never waits."""
        if self._redis is None:
            if key in self._local:
                yield False
                return
            self._local.add(key)
            try:
                yield True
            finally:
                self._local.discard(key)
            return
        lock = self._redis.lock(self._prefix + key, timeout=self._timeout, blocking=False)
        try:
            acquired = await lock.acquire()
        except RedisError as exc:
            raise ServiceUnavailable("rate_limit_unavailable") from exc
        if not acquired:
            yield False
            return
        try:
            yield True
        finally:
            await _release(lock)


async def _release(lock: Lock) -> None:
    # LockError: the claim lapsed (the holder outlived the timeout); another may hold it now.
    # RedisError: the claim lapses by its timeout anyway; the caller's outcome stands.
    with suppress(LockError, RedisError):
        await lock.release()
