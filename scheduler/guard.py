"""Run each occurrence of a job once, however many schedulers fire it.

APScheduler 3 has no coordination between processes: two instances (a deploy overlapping the old
process, or two replicas on one database) both fire every occurrence. Before any work, the runner
inserts a ``JobRun`` row keyed by (job, occurrence); the unique key lets exactly one insert win, and
the loser skips. The row then records the outcome, so ``contexor jobs list`` can show it.

The occurrence is the scheduled fire time (the trigger's, not the clock's), so two instances whose
clocks differ by a second still agree on the key. A manual ``contexor jobs run`` has a key of its
own (``manual:<time>``) and so never blocks, nor is blocked by, the scheduled occurrence.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError

from db.models import JobRun

logger = logging.getLogger("contexor.scheduler")

MANUAL_PREFIX = "manual:"


@dataclass(frozen=True)
class RunResult:
    """What one attempt at an occurrence did: ``ran`` is False when another instance had it."""

    ran: bool
    key: str
    detail: dict[str, Any]


def occurrence_key(fire_time: datetime) -> str:
    """The period key of a scheduled occurrence: its fire time, ISO 8601 with its offset."""
    return fire_time.isoformat(timespec="seconds")


def manual_key(now: datetime) -> str:
    return f"{MANUAL_PREFIX}{now.isoformat(timespec='microseconds')}"


def latest_fire_time(trigger: Any, now: datetime, *, within: timedelta) -> datetime:
    """The trigger's last fire time at or before ``now``, looking back at most ``within``.

    The scheduler calls a job only inside its misfire grace, so the occurrence it is running lies
    in that window; ``now`` itself is returned if the trigger has none there (a manual call).
    """
    return last_occurrence(trigger, now, within=within) or now


def last_occurrence(trigger: Any, now: datetime, *, within: timedelta) -> datetime | None:
    """The trigger's last fire time in [now - within, now], or None when it has none there."""
    candidate = trigger.get_next_fire_time(None, now - within)
    latest = None
    while candidate is not None and candidate <= now:
        latest = candidate
        candidate = trigger.get_next_fire_time(candidate, candidate + timedelta(microseconds=1))
    return latest


async def run_once(name: str, key: str, work, *, now) -> RunResult:
    """Claim (name, key) and run ``work()``; skip when the occurrence is already claimed.

    ``now`` is a callable giving the current time (the services' clock). A failure is recorded on
    the row with its exception type and re-raised, so the scheduler logs it too.
    """
    try:
        run = await JobRun.create(job_name=name, period_key=key, started_at=now())
    except IntegrityError:
        logger.info("job %s occurrence %s already claimed; skipping", name, key)
        return RunResult(ran=False, key=key, detail={})
    try:
        detail = await work()
    except Exception as exc:
        run.finished_at, run.succeeded = now(), False
        run.detail = {"error": type(exc).__name__}
        await run.save(update_fields=["finished_at", "succeeded", "detail"])
        raise
    run.finished_at, run.succeeded, run.detail = now(), True, detail
    await run.save(update_fields=["finished_at", "succeeded", "detail"])
    return RunResult(ran=True, key=key, detail=detail)


async def last_runs(names: list[str]) -> dict[str, JobRun]:
    """The most recent run of each named job (scheduled or manual), by start time."""
    latest: dict[str, JobRun] = {}
    for name in names:
        run = await JobRun.filter(job_name=name).order_by("-started_at", "-id").first()
        if run is not None:
            latest[name] = run
    return latest
