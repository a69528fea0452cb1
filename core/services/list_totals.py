"""The content list's total, cached briefly per filter in Redis so page 1 needs no count scan.

Counting every visible row is most of a list request's cost (issue 13). The total depends only
on the list's WHERE clause and its parameters (the roles per organisation, the user where a
writer's rule needs it, the filters), so that text and its values name the cache entry; every
API process shares it through Redis. Validity is not left to the TTL alone: each organisation
has a *change mark* (a random token), set anew after every committed write that can change a
count there (content created, deleted or changing status; a workspace or project retired or
revived). An entry stores the marks of its organisations as read *before* its count ran, and
answers only while they are still the current ones, all in one ``MGET``. A write that commits
after that read sets a new mark, so a count that may have missed it is never used again; a
count that started after the new mark was set saw the write. Hence: the next list after a write
in an organisation shows the new total at once, in every process. The TTL
(``LIST_TOTAL_CACHE_SECONDS``) bounds what no mark covers (a write made outside ``core``).

When an entry ends (its TTL, a write), every request in flight for that filter misses at once;
at 32 concurrent requests that was 32 counts of the same rows together, a stall every TTL.
Within a process only the first counts: the others with the same key and stamp wait for its
total (``joined``) and read just their page, so a process runs at most one count per entry.

Marks are tokens, not counters: one that expired (or was evicted) and is set again never repeats
an old value, so an old entry cannot come back to life. Redis round trips: a hit is one
``MGET``; a miss adds one ``SET``; a write one ``SET`` per organisation. Redis errors on the
read side count as a miss (the cache must not take the list down); on the write side they are
logged, since the write itself has committed, and the TTL ends the stale entry.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# A mark outlives every entry stamped with it by far; it is set again on the next write anyway.
MARK_TTL_SECONDS = 86_400
ABSENT = "-"


@dataclass(frozen=True, slots=True)
class CachedTotal:
    """What a lookup found: the total if the entry is still valid, and the stamp to store a
    freshly counted total under (the marks as read now, before the count runs)."""

    key: str
    stamp: str
    total: int | None


class ListTotals:
    """Cached list totals and the per-organisation marks that invalidate them."""

    def __init__(
        self, redis: aioredis.Redis | None, *, key_prefix: str, ttl_seconds: float
    ) -> None:
        self._redis = redis if ttl_seconds > 0 else None
        self._prefix = f"{key_prefix}list-total:"
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        # Counts running in this process, by (key, stamp): their totals, once known.
        self._counting: dict[tuple[str, str], asyncio.Future[int | None]] = {}

    @property
    def enabled(self) -> bool:
        return self._redis is not None

    async def lookup(self, scope: str, organization_ids: Iterable[int]) -> CachedTotal | None:
        """The entry for ``scope`` (the WHERE text and values) over those organisations; None
        without Redis or when Redis does not answer."""
        if self._redis is None:
            return None
        key = self._prefix + hashlib.blake2b(scope.encode(), digest_size=16).hexdigest()
        marks = [self._mark_key(org) for org in sorted(set(organization_ids))]
        try:
            values = await self._redis.mget([key, *marks])
        except RedisError as error:
            logger.warning("list total cache unavailable: %s", error)
            return None
        stamp = ",".join(ABSENT if v is None else v.decode() for v in values[1:])
        return CachedTotal(key=key, stamp=stamp, total=_valid_total(values[0], stamp))

    async def joined(self, cached: CachedTotal) -> int | None:
        """The total that another request of this process is counting for the same key under the
        same marks, once it has it; ``None`` when there is no such count (or it failed)."""
        pending = self._counting.get((cached.key, cached.stamp))
        return None if pending is None else await asyncio.shield(pending)

    def counting(self, cached: CachedTotal) -> asyncio.Future[int | None] | None:
        """Announce that this request counts for ``cached``; settle it with :meth:`counted`.
        ``None`` when another request already counts it (this one counts anyway)."""
        slot = (cached.key, cached.stamp)
        if slot in self._counting:
            return None
        future = self._counting[slot] = asyncio.get_running_loop().create_future()
        return future

    def counted(
        self, cached: CachedTotal, future: asyncio.Future[int | None] | None, total: int | None
    ) -> None:
        """The announced count ended with ``total`` (``None``: it failed); wake the waiters."""
        if future is None:
            return
        self._counting.pop((cached.key, cached.stamp), None)
        if not future.done():
            future.set_result(total)

    async def store(self, cached: CachedTotal, total: int) -> None:
        """Keep ``total`` (counted after ``cached`` was looked up) under that lookup's stamp."""
        if self._redis is None:
            return
        try:
            await self._redis.set(cached.key, f"{total}|{cached.stamp}", px=self._ttl_ms)
        except RedisError as error:
            logger.warning("list total not cached: %s", error)

    async def changed(self, *organization_ids: int) -> None:
        """Call after a committed write that can change a count in these organisations."""
        if self._redis is None or not organization_ids:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for org in sorted(set(organization_ids)):
                    pipe.set(self._mark_key(org), secrets.token_hex(8), ex=MARK_TTL_SECONDS)
                await pipe.execute()
        except RedisError as error:
            # The write committed; entries of these organisations end with their TTL.
            logger.warning("list totals of %s not invalidated: %s", organization_ids, error)

    def _mark_key(self, organization_id: int) -> str:
        return f"{self._prefix}org:{organization_id}"


def _valid_total(entry: bytes | None, stamp: str) -> int | None:
    if entry is None:
        return None
    total, _, stored_stamp = entry.decode().partition("|")
    return int(total) if stored_stamp == stamp else None
