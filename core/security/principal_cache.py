"""A REST session's principal, kept briefly in each process and checked against Redis per request.

Every authenticated request needs its principal (the user, whether the session was revoked, the
roles and organisation names: ``core/security/session_principal.py``). Read from PostgreSQL that
is a round trip per request, and for ``/api/auth/me`` the whole request (issue 13). Here each
process keeps the principals it built, by session, and uses one again only while it is provably
current, so a logout, a role change or a deactivation counts from the very next request in
every process:

- Each user has a *change mark* in Redis (a random token), and so does everyone at once (for
  what concerns whole organisations: activation, names). Core sets a new mark *after* every
  committed write that can change a principal: the session revoked (logout, a reused refresh
  token), a membership added, changed or removed, the user row changed, an organisation
  (re)activated. The call sites are the services that make those writes; the list of them is
  kept by ``tests/security/test_principal_cache_paths.py``, which fails when a new one appears.
- A request reads both marks (one ``MGET``). A kept principal is used only if it was built
  under exactly those marks: its marks were read *before* its query ran, so a write that
  committed after that read has since set a new mark and the entry never answers again; a query
  that started after the new mark saw the write.
- A missing mark (never set, expired, evicted) is created and nothing is cached under it: a
  mark that disappears and comes back is a new token, so an old entry cannot come back to life.
- Redis unreachable: the request reads PostgreSQL, as without a cache, and this process drops
  what it kept (it cannot tell what it missed meanwhile). For ``REDIS_RETRY_SECONDS`` after a
  failure the cache is not asked at all, so a Redis that hangs costs one socket timeout per
  process every few seconds, not one per request; the outage and the recovery are logged once.
- A mark that could not be set because Redis failed right after the write committed is logged
  and set again before this process next asks Redis for marks.
- ``PRINCIPAL_CACHE_SECONDS`` bounds an entry's age, hence what no mark covers: a write made
  outside ``core`` (SQL by hand), or a mark whose setting was lost with its process while Redis
  was down. 0 turns the cache off; without Redis there is none.

A hit returns a new ``Principal`` with its own copy of the user row, so a service that changes
``actor.user`` never changes what another request sees.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.security.principal import Principal
from core.security.session_principal import session_principal

logger = logging.getLogger(__name__)

# Kept principals per process: a few MiB at most, and the least recently used go first.
DEFAULT_MAX_ENTRIES = 4096
# A mark outlives every entry stamped with it (PRINCIPAL_CACHE_SECONDS is at most 300).
MARK_TTL_SECONDS = 86_400
EVERYONE = "all"
# After a Redis failure, how long requests go straight to PostgreSQL before Redis is tried again.
REDIS_RETRY_SECONDS = 5.0


@dataclasses.dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    marks: tuple[bytes, bytes]  # (the user's, everyone's) as read before the principal's query
    expires_at: float


class PrincipalCache:
    """Principals of REST sessions, by session id, and the marks that invalidate them."""

    def __init__(
        self,
        redis: aioredis.Redis | None,
        *,
        key_prefix: str,
        ttl_seconds: float,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis if ttl_seconds > 0 else None
        self._prefix = f"{key_prefix}principal:"
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._retry_at: float | None = None  # set while Redis is considered down
        self._unset_marks: set[str] = set()  # marks a write could not set (Redis failed)

    @classmethod
    def disabled(cls) -> PrincipalCache:
        """No cache: every principal is read; the change notices do nothing (services built
        without one, as tests build them)."""
        return cls(None, key_prefix="", ttl_seconds=0)

    @property
    def enabled(self) -> bool:
        return self._redis is not None

    async def principal(self, user_id: int, session_id: str) -> Principal:
        """The principal of a live session of an active user; ``Unauthenticated`` otherwise."""
        if self._redis is None or self._resting():
            return await session_principal(user_id, session_id)
        marks = await self._marks(user_id)
        entry = self._entries.get(session_id)
        if entry is not None and marks is not None and self._current(entry, user_id, marks):
            self._entries.move_to_end(session_id)
            return dataclasses.replace(entry.principal, user=copy.copy(entry.principal.user))
        principal = await session_principal(user_id, session_id)
        if marks is not None:
            self._keep(session_id, _Entry(principal, marks, self._monotonic() + self._ttl))
        else:
            self._entries.pop(session_id, None)
        return dataclasses.replace(principal, user=copy.copy(principal.user))

    async def changed(self, *user_ids: int) -> None:
        """Call after a committed write that can change these users' principals."""
        await self._set_marks([self._user_key(user_id) for user_id in set(user_ids)])

    async def changed_for_everyone(self) -> None:
        """Call after a committed write that can change any principal (an organisation's
        activation or name)."""
        await self._set_marks([self._prefix + EVERYONE])

    def forget_all(self) -> None:
        """Drop what this process kept."""
        self._entries.clear()

    # Internals ------------------------------------------------------------------------------

    def _resting(self) -> bool:
        """Whether Redis failed less than ``REDIS_RETRY_SECONDS`` ago (then it is not asked)."""
        return self._retry_at is not None and self._monotonic() < self._retry_at

    def _failed(self, error: RedisError) -> None:
        if self._retry_at is None:
            logger.warning("principal cache unavailable, reading the database: %s", error)
        self._retry_at = self._monotonic() + REDIS_RETRY_SECONDS
        self.forget_all()

    def _answered(self) -> None:
        if self._retry_at is not None:
            logger.info("principal cache available again")
            self._retry_at = None

    def _current(self, entry: _Entry, user_id: int, marks: tuple[bytes, bytes]) -> bool:
        return (
            entry.principal.user_id == user_id
            and entry.marks == marks
            and self._monotonic() < entry.expires_at
        )

    async def _marks(self, user_id: int) -> tuple[bytes, bytes] | None:
        """The user's and everyone's marks now; ``None`` when one is missing (then created) or
        Redis did not answer."""
        assert self._redis is not None
        keys = [self._user_key(user_id), self._prefix + EVERYONE]
        try:
            if self._unset_marks:
                await self._set_marks_now(sorted(self._unset_marks))
                self._unset_marks.clear()
            user_mark, everyone_mark = await self._redis.mget(keys)
            if user_mark is not None and everyone_mark is not None:
                self._answered()
                return user_mark, everyone_mark
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, mark in zip(keys, (user_mark, everyone_mark), strict=True):
                    if mark is None:
                        pipe.set(key, secrets.token_hex(8), ex=MARK_TTL_SECONDS, nx=True)
                await pipe.execute()
            self._answered()
        except RedisError as error:
            self._failed(error)
        return None

    async def _set_marks(self, keys: list[str]) -> None:
        if self._redis is None or not keys:
            return
        try:
            await self._set_marks_now(keys)
        except RedisError as error:
            # The write committed: this process forgets at once and sets the marks on its next
            # talk with Redis; until then the others keep theirs (at most their TTL).
            self.forget_all()
            self._unset_marks.update(keys)
            logger.warning("principals not invalidated yet (%s): %s", ", ".join(keys), error)

    async def _set_marks_now(self, keys: list[str]) -> None:
        assert self._redis is not None
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in sorted(keys):
                pipe.set(key, secrets.token_hex(8), ex=MARK_TTL_SECONDS)
            await pipe.execute()

    def _keep(self, session_id: str, entry: _Entry) -> None:
        self._entries[session_id] = entry
        self._entries.move_to_end(session_id)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def _user_key(self, user_id: int) -> str:
        return f"{self._prefix}user:{user_id}"
