"""This process's lease: proof to the others that it is alive, and what ``contexor status`` lists.

One notion of a live process (``contexor run``): while it runs it renews a lease every
``RENEW_EVERY_SECONDS``, which lapses ``LEASE_SECONDS`` after the last renewal. The same renewal
records the instance (its parts, when it started, its last heartbeat, whether it stopped
cleanly) so ``contexor status`` can list every instance, live or not.

- Generation jobs name their owner (``GenerationJob.owner`` is the instance name); an owner
  whose lease lapsed is dead (``kill -9``, out of memory), and its jobs are reaped at once
  (``GenerationService.reap_orphaned_jobs``) rather than after the heartbeat-age reaper.
- The bot lease and the webhook stream consumer use the same instance name (``THIS_INSTANCE``).

With Redis the lease is a key with an expiry (the server's clock decides, so clocks of different
machines never disagree) and the record a field of one hash; an entry not renewed for a day is
dropped by the next writer. Without Redis both are a ``process_leases`` row. While the store
cannot be reached nobody is taken for dead: ``alive`` raises and nothing is reaped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis.asyncio as aioredis

from core.cancellation import cancel_and_wait
from core.clock import Clock
from db.models import ProcessLease

logger = logging.getLogger(__name__)

LEASE_SECONDS = 15
RENEW_EVERY_SECONDS = 5.0
FORGET_AFTER = timedelta(days=1)


def new_instance_id() -> str:
    """Host, pid and a random part: unique per process start, and readable in a log."""
    host = socket.gethostname()[:32]
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


# This process's name (``contexor run`` gives it to its lease; the bot lease uses it too).
THIS_INSTANCE = new_instance_id()


@dataclass(frozen=True)
class InstanceRecord:
    """One instance as its last renewal described it; ``alive`` is whether its lease runs."""

    name: str
    parts: tuple[str, ...]
    started_at: datetime
    heartbeat_at: datetime
    stopped: bool
    alive: bool


class ProcessLeases:
    """Renew this instance's lease; tell which instances hold a live one; list them all."""

    def __init__(
        self,
        *,
        clock: Clock,
        redis: aioredis.Redis | None,
        key_prefix: str,
        instance_id: str | None = None,
        lease_seconds: int = LEASE_SECONDS,
        renew_every_seconds: float = RENEW_EVERY_SECONDS,
    ) -> None:
        self.instance_id = instance_id or new_instance_id()
        self._clock = clock
        self._redis = redis
        self._lease_prefix = f"{key_prefix}process-lease:"
        self._records_key = f"{key_prefix}instances"
        self._lease_seconds = lease_seconds
        self._renew_every = renew_every_seconds
        self._renewing: asyncio.Task[None] | None = None
        self._failing = False
        self._parts: tuple[str, ...] = ()
        self._started_at = clock.now()

    def describe(self, parts: list[str]) -> None:
        """Name the parts this instance runs (shown by ``contexor status``)."""
        self._parts = tuple(parts)

    async def hold(self) -> None:
        """Take the lease now and keep renewing it in the background (idempotent)."""
        if self._renewing is not None and not self._renewing.done():
            return
        await self._renew_quietly()
        self._renewing = asyncio.create_task(self._keep_renewing(), name="process-lease")

    async def release(self) -> None:
        """Stop renewing, give the lease up and record the clean stop (idempotent)."""
        if self._renewing is None:
            return
        await cancel_and_wait(self._renewing)  # its Redis calls may swallow one cancel()
        self._renewing = None
        try:
            await asyncio.wait_for(self._write(stopped=True), self._renew_every)
        except Exception as exc:
            logger.warning("could not give up the process lease: %s", exc)

    async def alive(self, instances: set[str]) -> set[str]:
        """Which of ``instances`` hold a live lease (raises when the store is unreachable)."""
        if not instances:
            return set()
        ordered = sorted(instances)
        if self._redis is not None:
            async with self._redis.pipeline(transaction=False) as pipe:
                for name in ordered:
                    pipe.exists(self._lease_prefix + name)
                answers = await pipe.execute()
            return {name for name, there in zip(ordered, answers, strict=True) if there}
        rows = await ProcessLease.filter(
            instance__in=ordered, expires_at__gt=self._clock.now()
        ).values_list("instance", flat=True)
        return set(rows)

    async def instances(self) -> list[InstanceRecord]:
        """Every recorded instance, the most recent heartbeat first."""
        if self._redis is not None:
            records = await self._redis.hgetall(self._records_key)
            entries = {_text(name): json.loads(value) for name, value in records.items()}
            live = await self.alive(set(entries))
            found = [_record(name, entry, name in live) for name, entry in entries.items()]
        else:
            now = self._clock.now()
            found = [
                InstanceRecord(
                    name=row.instance,
                    parts=tuple(row.parts or ()),
                    started_at=row.started_at,
                    heartbeat_at=row.heartbeat_at or row.started_at,
                    stopped=row.stopped,
                    alive=row.expires_at > now,
                )
                for row in await ProcessLease.all()
            ]
        return sorted(found, key=lambda record: record.heartbeat_at, reverse=True)

    async def _keep_renewing(self) -> None:
        while True:
            await asyncio.sleep(self._renew_every)
            await self._renew_quietly()

    async def _renew_quietly(self) -> None:
        """Renew; a failure is logged once per outage and tried again at the next renewal."""
        try:
            await asyncio.wait_for(self._write(stopped=False), self._renew_every)
        except Exception as exc:
            if not self._failing:
                logger.warning("process lease not renewed (%s: %s)", type(exc).__name__, exc)
            self._failing = True
            return
        if self._failing:
            logger.info("process lease renewed again")
        self._failing = False

    async def _write(self, *, stopped: bool) -> None:
        """Renew (or, ``stopped``, end) the lease and record this instance, in one step."""
        now = self._clock.now()
        if self._redis is not None:
            await self._write_redis(now, stopped=stopped)
        else:
            await self._write_row(now, stopped=stopped)

    async def _write_redis(self, now: datetime, *, stopped: bool) -> None:
        entry = {
            "parts": list(self._parts),
            "started_at": self._started_at.isoformat(timespec="seconds"),
            "heartbeat_at": now.isoformat(timespec="seconds"),
            "stopped": stopped,
        }
        lease = self._lease_prefix + self.instance_id
        async with self._redis.pipeline(transaction=True) as pipe:  # type: ignore[union-attr]
            if stopped:
                pipe.delete(lease)
            else:
                pipe.set(lease, "1", ex=self._lease_seconds)
            pipe.hset(self._records_key, self.instance_id, json.dumps(entry))
            await pipe.execute()
        records = await self._redis.hgetall(self._records_key)  # type: ignore[union-attr]
        stale = [
            _text(name)
            for name, value in records.items()
            if now - datetime.fromisoformat(json.loads(value)["heartbeat_at"]) > FORGET_AFTER
        ]
        if stale:
            await self._redis.hdel(self._records_key, *stale)  # type: ignore[union-attr]

    async def _write_row(self, now: datetime, *, stopped: bool) -> None:
        expires = now if stopped else now + timedelta(seconds=self._lease_seconds)
        values = {
            "expires_at": expires,
            "heartbeat_at": now,
            "parts": list(self._parts),
            "stopped": stopped,
        }
        updated = await ProcessLease.filter(instance=self.instance_id).update(**values)
        if not updated:
            await ProcessLease.create(
                instance=self.instance_id, started_at=self._started_at, **values
            )
        await ProcessLease.filter(heartbeat_at__lt=now - FORGET_AFTER).delete()


def _text(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else name


def _record(name: str, entry: dict, alive: bool) -> InstanceRecord:
    return InstanceRecord(
        name=name,
        parts=tuple(entry.get("parts", ())),
        started_at=datetime.fromisoformat(entry["started_at"]),
        heartbeat_at=datetime.fromisoformat(entry["heartbeat_at"]),
        stopped=bool(entry.get("stopped")),
        alive=alive,
    )
