"""The job registry shared by the running scheduler and ``contexor jobs list/run``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from core.container import Services
from scheduler import jobs

JobFunction = Callable[[Services], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    function: JobFunction
    schedule: dict[str, str]  # CronTrigger fields, in settings.timezone; day names, not numbers
    description: str


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        "cleanup_expired_otps",
        jobs.cleanup_expired_otps,
        {"minute": "*/10"},
        "delete one-time codes that expired over a day ago",
    ),
    JobSpec(
        "reap_stale_generation_jobs",
        jobs.reap_stale_generation_jobs,
        {"minute": "*/5"},
        "fail generation jobs whose process died and release their usage",
    ),
    JobSpec(
        "prune_refresh_tokens",
        jobs.prune_refresh_tokens,
        {"hour": "3", "minute": "15"},
        "delete refresh tokens that expired over a day ago",
    ),
)


def job_named(name: str) -> JobSpec | None:
    return next((job for job in JOBS if job.name == name), None)


def build_scheduler(services: Services) -> AsyncIOScheduler:
    """An AsyncIOScheduler (not started) with every job on its cron in the configured zone."""
    zone = services.settings.zone
    scheduler = AsyncIOScheduler(
        timezone=zone,
        # APScheduler 3.11 defaults to a 1 s grace: a busy loop would silently skip runs.
        job_defaults={"misfire_grace_time": 300, "coalesce": True, "max_instances": 1},
    )
    for job in JOBS:
        scheduler.add_job(
            job.function,
            CronTrigger(timezone=zone, **job.schedule),
            args=[services],
            id=job.name,
            name=job.name,
        )
    return scheduler
