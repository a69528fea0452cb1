"""When a content stuck in ``generating`` may be unlocked by its author.

One answer for every place that meets the lock: the 409 ``content_generating`` of an edit, a
submit, a delete or a regeneration; the 409 ``generation_still_running`` of an unlock pressed too
early; and the bot showing a generating content. At once when the job's owner is dead (its
process lease lapsed, ``core/services/leases.py``), else when the job has shown no life for
``GENERATION_UNLOCK_GRACE_SECONDS`` (its last heartbeat, or its creation, plus the grace).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from core.clock import Clock
from core.errors import Conflict
from core.services.leases import ProcessLeases
from db.models import Content, GenerationJob


class UnlockHorizon:
    """Tells when a generating content may be unlocked, and whether its job's owner is dead."""

    def __init__(self, *, clock: Clock, leases: ProcessLeases, grace_seconds: int) -> None:
        self._clock = clock
        self._leases = leases
        self._grace = timedelta(seconds=grace_seconds)

    async def owner_dead(self, job: GenerationJob) -> bool:
        """The job names another process whose lease lapsed (raises when leases are unreadable)."""
        return (
            job.owner is not None
            and job.owner != self._leases.instance_id
            and not await self._leases.alive({job.owner})
        )

    def grace_ends(self, job: GenerationJob) -> datetime:
        """When the job will have shown no life for the grace (a heartbeat moves it on)."""
        return (job.heartbeat_at or job.created_at) + self._grace

    async def unlock_at(self, job: GenerationJob) -> datetime:
        """Now when the owner is dead or the grace has passed, else when the grace ends."""
        now = self._clock.now()
        try:
            dead = await self.owner_dead(job)
        except Exception:  # leases unreadable: nobody is taken for dead, the grace still holds
            dead = False
        if dead:
            return now
        return max(now, self.grace_ends(job))

    async def params(self, job: GenerationJob) -> dict[str, Any]:
        """What a 409 carries: ``unlock_at`` (ISO 8601, UTC) and ``retry_after`` (s, 0 = now)."""
        return self.params_at(await self.unlock_at(job), job.content_id)

    def params_at(self, when: datetime, content_id: int) -> dict[str, Any]:
        left = (when - self._clock.now()).total_seconds()
        return {
            "content_id": content_id,
            "unlock_at": when.isoformat(timespec="seconds"),
            "retry_after": max(0, math.ceil(left)),
        }

    async def explain(self, error: Conflict, content_id: int) -> None:
        """Add to a 409 ``content_generating`` when the author may unlock (no-op for others)."""
        if error.code == "content_generating":
            error.params.update(await self.params_for(content_id))

    async def params_for(self, content_id: int) -> dict[str, Any]:
        """The 409's fields for ``content_id``; empty when it is not (or no longer) locked.

        Best effort: an error reading the job or the leases (a database or Redis blip) leaves
        the 409 as it was rather than turning it into a 500.
        """
        try:
            content = await Content.get_or_none(id=content_id)
            if content is None or content.current_job_id is None:
                return {}
            job = await GenerationJob.get_or_none(id=content.current_job_id)
            return {} if job is None else await self.params(job)
        except Exception:
            return {}
