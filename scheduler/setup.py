"""The job registry shared by the running scheduler and ``contexor jobs list/run``.

Every job runs through :mod:`scheduler.guard`, so each occurrence runs once across instances.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from core.container import Services
from scheduler import jobs
from scheduler.guard import RunResult, latest_fire_time, manual_key, occurrence_key, run_once

JobFunction = Callable[[Services], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    function: JobFunction
    schedule: dict[str, str]  # CronTrigger fields, in settings.timezone; day names, not numbers
    description: str
    # How late an occurrence may still start (a busy loop, a restart around the fire time), and
    # whether missed occurrences collapse into one run; ``why`` says why for this job.
    misfire_grace: timedelta
    coalesce: bool
    why: str


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        "cleanup_expired_otps",
        jobs.cleanup_expired_otps,
        {"minute": "*/10"},
        "delete one-time codes that expired over a day ago",
        misfire_grace=timedelta(minutes=10),
        coalesce=True,
        why="idempotent sweep: one late run catches up on every missed one",
    ),
    JobSpec(
        "reap_stale_generation_jobs",
        jobs.reap_stale_generation_jobs,
        {"minute": "*/5"},
        "fail generation jobs whose process died and release their usage",
        misfire_grace=timedelta(minutes=5),
        coalesce=True,
        why="a backstop sweep: running it twice in a row finds nothing new",
    ),
    JobSpec(
        "prune_refresh_tokens",
        jobs.prune_refresh_tokens,
        {"hour": "3", "minute": "15"},
        "delete refresh tokens that expired over a day ago",
        misfire_grace=timedelta(hours=6),
        coalesce=True,
        why="daily housekeeping: any time that night will do, once",
    ),
)


def job_named(name: str) -> JobSpec | None:
    return next((job for job in JOBS if job.name == name), None)


def trigger_of(job: JobSpec, services: Services) -> CronTrigger:
    return CronTrigger(timezone=services.settings.zone, **job.schedule)


async def fire(job: JobSpec, services: Services, trigger: CronTrigger) -> RunResult:
    """What the scheduler calls: claim this occurrence, then run the job if the claim won."""
    now = services.clock.now()
    fired = latest_fire_time(trigger, now, within=job.misfire_grace)
    return await run_once(
        job.name, occurrence_key(fired), lambda: job.function(services), now=services.clock.now
    )


async def run_now(job: JobSpec, services: Services) -> RunResult:
    """``contexor jobs run NAME``: the same guard, under a key of its own."""
    key = manual_key(services.clock.now())
    return await run_once(job.name, key, lambda: job.function(services), now=services.clock.now)


def build_scheduler(services: Services) -> AsyncIOScheduler:
    """An AsyncIOScheduler (not started) with every job on its cron in the configured zone."""
    zone = services.settings.zone
    scheduler = AsyncIOScheduler(timezone=zone, job_defaults={"max_instances": 1})
    for job in JOBS:
        trigger = trigger_of(job, services)
        scheduler.add_job(
            fire,
            trigger,
            args=[job, services, trigger],
            id=job.name,
            name=job.name,
            misfire_grace_time=int(job.misfire_grace.total_seconds()),
            coalesce=job.coalesce,
        )
    return scheduler
