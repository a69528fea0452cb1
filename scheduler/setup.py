"""The job registry shared by the running scheduler and ``contexor jobs list/run``.

Every job runs through :mod:`scheduler.guard`, so each occurrence runs once across instances.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from core.container import Services
from scheduler import jobs
from scheduler.guard import (
    RunResult,
    last_occurrence,
    latest_fire_time,
    manual_key,
    occurrence_key,
    run_once,
)
from scheduler.triggers import BillingPeriodTrigger

JobFunction = Callable[[Services], Awaitable[dict[str, Any]]]
# A job whose schedule is this fires at the start of each billing period (scheduler/triggers.py).
BILLING_PERIOD: dict[str, str] = {"billing_period": "start"}


@dataclass(frozen=True)
class JobSpec:
    name: str
    function: JobFunction
    # CronTrigger fields, in settings.timezone (day names, not numbers), or BILLING_PERIOD.
    schedule: dict[str, str]
    description: str
    # How late an occurrence may still start (a busy loop, a restart around the fire time), and
    # whether missed occurrences collapse into one run; ``why`` says why for this job.
    misfire_grace: timedelta
    coalesce: bool
    why: str
    # Run an occurrence missed while no scheduler was up (a deploy across the fire time) when a
    # scheduler starts within its grace; the guard still runs it once.
    catch_up: bool = False

    @property
    def schedule_text(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.schedule.items())


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
    JobSpec(
        "clear_expired_conversations",
        jobs.clear_expired_conversations,
        {"minute": "20"},
        "drop expired bot conversation state (the chosen language stays)",
        misfire_grace=timedelta(hours=1),
        coalesce=True,
        why="expired state already reads as none: a late sweep only frees space later",
    ),
    JobSpec(
        "purge_delivered_outbox",
        jobs.purge_delivered_outbox,
        {"hour": "3", "minute": "45"},
        "delete sent and given-up notifications older than OUTBOX_KEEP_DAYS",
        misfire_grace=timedelta(hours=6),
        coalesce=True,
        why="daily housekeeping: any time that night will do, once",
    ),
    JobSpec(
        "limit_warnings",
        jobs.limit_warnings,
        {"minute": "*/5"},
        "warn admins (and the person) of each scope past 80% of a usage limit, once per period",
        misfire_grace=timedelta(minutes=5),
        coalesce=True,
        why="each check reads the current totals, so the next one covers any missed before it",
    ),
    JobSpec(
        "usage_rollover",
        jobs.usage_rollover,
        BILLING_PERIOD,
        "send each organisation's admins the usage report of the billing period just ended",
        misfire_grace=timedelta(days=3),
        coalesce=True,
        why="a report late by an outage is still wanted, and only the period just ended matters",
        catch_up=True,
    ),
    JobSpec(
        "review_reminders",
        jobs.review_reminders,
        {"hour": "9", "minute": "0"},
        "send editors and admins a digest of content waiting in review for over a day",
        misfire_grace=timedelta(hours=3),
        coalesce=True,
        why="a digest late in the morning still helps; two in a row would repeat one list",
        catch_up=True,
    ),
)


def job_named(name: str) -> JobSpec | None:
    return next((job for job in JOBS if job.name == name), None)


def trigger_of(job: JobSpec, services: Services) -> BaseTrigger:
    settings = services.settings
    if job.schedule == BILLING_PERIOD:
        return BillingPeriodTrigger(zone=settings.zone, calendar=settings.billing_calendar)
    return CronTrigger(timezone=settings.zone, **job.schedule)


async def fire(job: JobSpec, services: Services, trigger: CronTrigger) -> RunResult:
    """What the scheduler calls: claim this occurrence, then run the job if the claim won."""
    now = services.clock.now()
    fired = latest_fire_time(trigger, now, within=job.misfire_grace)
    return await run_once(
        job.name, occurrence_key(fired), lambda: job.function(services), now=services.clock.now
    )


async def catch_up(job: JobSpec, services: Services, trigger: BaseTrigger) -> RunResult | None:
    """At start-up: run the last occurrence within the grace if no instance ran it yet (the
    guard decides); None when the job had no occurrence in that window."""
    fired = last_occurrence(trigger, services.clock.now(), within=job.misfire_grace)
    if fired is None:
        return None
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
        if job.catch_up:
            # Runs once as soon as the scheduler starts.
            scheduler.add_job(catch_up, args=[job, services, trigger], id=f"{job.name}:catch_up")
    return scheduler
