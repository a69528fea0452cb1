"""``contexor status``: the bot lease, instances, queues and job runs, and its one-line errors."""

from __future__ import annotations

import asyncio
import os
import sys
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.lease import BotLease
from bot.status import collect_status, render
from bot.update_queue import UpdateStream
from core.clock import Clock
from core.services.leases import THIS_INSTANCE, ProcessLeases
from core.settings import Settings
from db.models import JobRun, OutboxMessage
from tests.support.factories import make_user


@pytest.mark.redis
async def test_status_names_the_leader_the_instances_and_the_queue_depths(
    settings: Settings, db: str, clean_redis: Redis
) -> None:
    prefix = settings.redis_key_prefix
    lease = BotLease(clean_redis, prefix=prefix, instance=THIS_INSTANCE, seconds=10)
    token = await lease.acquire()
    async with AsyncExitStack() as stack:
        heartbeat = ProcessLeases(
            clock=Clock(), redis=clean_redis, key_prefix=prefix, instance_id=THIS_INSTANCE
        )
        heartbeat.describe(["bot", "api"])
        await heartbeat.hold()
        stack.push_async_callback(heartbeat.release)
        gone = await _instance(clean_redis, prefix, "api")
        await gone.release()  # a clean stop
        killed = await _instance(clean_redis, prefix, "scheduler")
        assert killed._renewing is not None
        killed._renewing.cancel()  # kill -9: no more renewals ...
        await clean_redis.delete(f"{prefix}process-lease:{killed.instance_id}")  # ... it lapses
        assert await killed.alive({killed.instance_id, THIS_INSTANCE}) == {THIS_INSTANCE}
        stream = UpdateStream(clean_redis, prefix)
        await stream.ensure_group()
        await stream.append(1, b'{"update_id": 1}')
        await stream.append(2, b'{"update_id": 2}')
        await stream.read_new("someone", 1)
        now = datetime.now(UTC)
        user = await make_user()
        await OutboxMessage.create(
            user=user, kind="test", payload={}, next_attempt_at=now, created_at=now
        )
        await JobRun.create(
            job_name="cleanup_expired_otps",
            period_key="k1",
            started_at=now,
            finished_at=now,
            succeeded=True,
            detail={"deleted": 3},
        )
        report = render(await collect_status(settings))
    assert f"held by {THIS_INSTANCE} since" in report and f"token {token}" in report
    assert f"{THIS_INSTANCE}  leader  parts=bot,api" in report
    assert "outbox: 1 pending, 0 being sent" in report
    assert f"{gone.instance_id}  stopped  parts=api" in report
    assert f"{killed.instance_id}  silent  parts=scheduler" in report
    assert "webhook stream: 2 queued (1 being processed)" in report
    assert 'cleanup_expired_otps  k1  ok  {"deleted": 3}' in report


async def _instance(redis: Redis, prefix: str, part: str) -> ProcessLeases:
    leases = ProcessLeases(clock=Clock(), redis=redis, key_prefix=prefix)
    leases.describe([part])
    await leases.hold()
    return leases


@pytest.mark.sqlite
async def test_status_on_the_embedded_default_says_one_process_leads(
    settings: Settings, db: str
) -> None:
    alone = ProcessLeases(clock=Clock(), redis=None, key_prefix="")
    alone.describe(["bot", "api", "scheduler"])
    await alone.hold()
    try:
        report = render(await collect_status(settings.model_copy(update={"redis_url": None})))
    finally:
        await alone.release()
    assert "no REDIS_URL" in report
    assert f"{alone.instance_id}  running  parts=bot,api,scheduler" in report
    assert "recent job runs:\n  none" in report


@pytest.mark.sqlite
async def test_status_with_redis_unreachable_exits_1_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_"))}
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "status",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("contexor: cannot read the status from Redis")
    assert out == b""
