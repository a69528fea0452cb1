"""This process's lease: proof to other processes that it is alive, renewed while it runs.

Every generation job names the process instance running it (``GenerationJob.owner``). A process
that dies (``kill -9``, out of memory) stops renewing its lease, which then expires after
``LEASE_SECONDS``; any process that finds active jobs of an owner without a live lease reaps
them at once (``GenerationService.reap_orphaned_jobs``), at start-up and from the scheduler,
rather than waiting for the heartbeat-age reaper.

The lease is a Redis key with an expiry when Redis is configured, else a ``process_leases`` row
(its ``expires_at`` compared with now). While the lease store cannot be reached nobody is taken
for dead: the check raises and nothing is reaped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import timedelta

import redis.asyncio as aioredis

from core.clock import Clock
from db.models import ProcessLease

logger = logging.getLogger(__name__)

LEASE_SECONDS = 15
RENEW_EVERY_SECONDS = 5.0


def new_instance_id() -> str:
    """Host, pid and a random part: unique per process start, and readable in a log."""
    host = socket.gethostname()[:32]
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class ProcessLeases:
    """Renew this instance's lease; tell which other instances hold a live one."""

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
        self._prefix = f"{key_prefix}process-lease:"
        self._lease_seconds = lease_seconds
        self._renew_every = renew_every_seconds
        self._renewing: asyncio.Task[None] | None = None
        self._failing = False

    async def hold(self) -> None:
        """Take the lease now and keep renewing it in the background (idempotent)."""
        if self._renewing is not None and not self._renewing.done():
            return
        await self._renew_quietly()
        self._renewing = asyncio.create_task(self._keep_renewing(), name="process-lease")

    async def release(self) -> None:
        """Stop renewing and give the lease up (a clean exit leaves no lease to wait out)."""
        if self._renewing is None:
            return
        self._renewing.cancel()
        await asyncio.gather(self._renewing, return_exceptions=True)
        self._renewing = None
        try:
            if self._redis is not None:
                await self._redis.delete(self._prefix + self.instance_id)
            else:
                await ProcessLease.filter(instance=self.instance_id).delete()
        except Exception as exc:
            logger.warning("could not give up the process lease: %s", exc)

    async def alive(self, instances: set[str]) -> set[str]:
        """Which of ``instances`` hold a live lease (raises when the store is unreachable)."""
        if not instances:
            return set()
        ordered = sorted(instances)
        if self._redis is not None:
            answers = [await self._redis.exists(self._prefix + name) for name in ordered]
            return {name for name, there in zip(ordered, answers, strict=True) if there}
        rows = await ProcessLease.filter(
            instance__in=ordered, expires_at__gt=self._clock.now()
        ).values_list("instance", flat=True)
        return set(rows)

    async def _keep_renewing(self) -> None:
        while True:
            await asyncio.sleep(self._renew_every)
            await self._renew_quietly()

    async def _renew_quietly(self) -> None:
        """Renew; a failure is logged once per outage and tried again at the next renewal."""
        try:
            await asyncio.wait_for(self._renew(), self._renew_every)
        except Exception as exc:
            if not self._failing:
                logger.warning("process lease not renewed (%s: %s)", type(exc).__name__, exc)
            self._failing = True
            return
        if self._failing:
            logger.info("process lease renewed again")
        self._failing = False

    async def _renew(self) -> None:
        if self._redis is not None:
            await self._redis.set(self._prefix + self.instance_id, "1", ex=self._lease_seconds)
            return
        now = self._clock.now()
        expires = now + timedelta(seconds=self._lease_seconds)
        updated = await ProcessLease.filter(instance=self.instance_id).update(expires_at=expires)
        if not updated:
            await ProcessLease.create(instance=self.instance_id, started_at=now, expires_at=expires)
