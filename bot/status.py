"""What ``contexor status`` reports: the bot lease, the instances, the queues, recent job runs.

Read-only: it opens the database and Redis, reads, and closes them; it works while replicas
run (docs/scaling.md). The instances are the process leases of ``core/services/leases.py``,
the very ones the generation reaper judges owners by. Without ``REDIS_URL`` there is no bot
lease: the embedded default runs one process, which leads; its instance rows are still shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis

from bot.lease import LeaseHolder, read_holder
from bot.update_queue import StreamDepth, UpdateStream
from core.clock import Clock
from core.services.leases import InstanceRecord, ProcessLeases
from core.settings import Settings
from db.models import JobRun, OutboxMessage
from db.models.enums import OutboxStatus

RECENT_JOB_RUNS = 10
REDIS_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Status:
    """Everything the report shows; ``shared`` is False without Redis."""

    shared: bool
    holder: LeaseHolder | None
    instances: list[InstanceRecord]
    outbox_pending: int
    outbox_sending: int
    stream: StreamDepth | None
    job_runs: list[JobRun]


async def collect_status(settings: Settings) -> Status:
    """Read the status; the database must be open (the CLI opens it)."""
    pending = await OutboxMessage.filter(status=OutboxStatus.PENDING).count()
    sending = await OutboxMessage.filter(status=OutboxStatus.SENDING).count()
    runs = await JobRun.all().order_by("-started_at", "-id").limit(RECENT_JOB_RUNS)
    if not settings.redis_url:
        rows = await _leases(settings, None).instances()
        return Status(False, None, rows, pending, sending, None, runs)
    redis = aioredis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    try:
        prefix = settings.redis_key_prefix
        holder = await read_holder(redis, prefix)
        instances = await _leases(settings, redis).instances()
        stream = await UpdateStream(redis, prefix).depth()
    finally:
        await redis.aclose()
    return Status(True, holder, instances, pending, sending, stream, runs)


def _leases(settings: Settings, redis: aioredis.Redis | None) -> ProcessLeases:
    """A reader of the instances' leases (it never holds one itself)."""
    return ProcessLeases(clock=Clock(), redis=redis, key_prefix=settings.redis_key_prefix)


def render(status: Status, now: datetime | None = None) -> str:
    """The report as lines of text, for people (times in UTC)."""
    now = now or datetime.now(UTC)
    lines = [f"bot lease: {_lease_line(status)}", "instances:"]
    for beat in status.instances:
        lines.append("  " + _instance_line(beat, status.holder, now))
    if not status.instances:
        lines.append("  none has written a heartbeat")
    stream = (
        "-"
        if status.stream is None
        else (f"{status.stream.length} queued ({status.stream.pending} being processed)")
    )
    lines += [
        "queues:",
        f"  outbox: {status.outbox_pending} pending, {status.outbox_sending} being sent",
        f"  webhook stream: {stream}",
        "recent job runs:",
    ]
    lines += ["  " + _run_line(run) for run in status.job_runs] or ["  none"]
    return "\n".join(lines)


def _lease_line(status: Status) -> str:
    if not status.shared:
        return "no REDIS_URL: this single process leads on its own"
    holder = status.holder
    if holder is None:
        return "free (no instance takes updates now)"
    return (
        f"held by {holder.instance} since {holder.since.isoformat(timespec='seconds')}"
        f" (token {holder.token}, expires in {holder.expires_in_seconds:.1f} s unless renewed)"
    )


def _instance_line(beat: InstanceRecord, holder: LeaseHolder | None, now: datetime) -> str:
    age = (now - beat.heartbeat_at).total_seconds()
    if beat.stopped:
        state = "stopped"
    elif not beat.alive:  # its lease lapsed: the generation reaper takes it for dead too
        state = "silent"
    elif holder is not None and holder.instance == beat.name:
        state = "leader"
    else:
        state = "running"
    return (
        f"{beat.name}  {state}  parts={','.join(beat.parts) or '-'}"
        f"  started {beat.started_at.isoformat(timespec='seconds')}"
        f"  last heartbeat {beat.heartbeat_at.isoformat(timespec='seconds')} ({age:.0f} s ago)"
    )


def _run_line(run: JobRun) -> str:
    outcome = {True: "ok", False: "failed", None: "running"}[run.succeeded]
    return (
        f"{run.started_at.isoformat(timespec='seconds')}  {run.job_name}  {run.period_key}"
        f"  {outcome}  {json.dumps(run.detail)}"
    )
