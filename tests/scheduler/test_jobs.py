"""The periodic jobs against the real database, with the frozen clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from core.clock import FrozenClock
from core.container import Services, build_services
from core.settings import Settings
from db.models import (
    Content,
    ContentStatus,
    GenerationJob,
    GenerationKind,
    JobRun,
    JobStatus,
    OtpCode,
    RefreshToken,
)
from scheduler import jobs
from scheduler.guard import run_once
from scheduler.setup import JOBS, build_scheduler, fire, job_named, run_now, trigger_of
from tests.support.factories import add_member, make_content, make_org, make_project, make_workspace

pytestmark = pytest.mark.sqlite


async def test_expired_codes_are_deleted_after_a_day_only(services: Services) -> None:
    now = services.clock.now()

    async def code(expires_in: timedelta) -> OtpCode:
        return await OtpCode.create(
            phone_number="+989121234567",
            code_hash="h",
            salt="s",
            created_at=now,
            expires_at=now + expires_in,
        )

    old = await code(-timedelta(days=2))
    recent = await code(-timedelta(hours=1))
    live = await code(timedelta(minutes=5))
    assert await jobs.cleanup_expired_otps(services) == {"deleted": 1}
    remaining = set(await OtpCode.all().values_list("id", flat=True))
    assert remaining == {recent.id, live.id}
    assert old.id not in remaining


async def test_old_refresh_tokens_are_pruned(services: Services) -> None:
    user = await add_member(await make_org(), "writer")
    now = services.clock.now()
    for n, expires in enumerate((now - timedelta(days=3), now + timedelta(days=3))):
        await RefreshToken.create(
            jti=f"j{n}", family_id="f", user=user, created_at=now, expires_at=expires
        )
    assert await jobs.prune_refresh_tokens(services) == {"deleted": 1}
    assert await RefreshToken.all().values_list("jti", flat=True) == ["j1"]


async def test_a_job_whose_process_died_is_reaped(services: Services) -> None:
    org = await make_org()
    writer = await add_member(org, "writer")
    workspace = await make_workspace(org)
    content = await make_content(
        await make_project(workspace), writer, status=ContentStatus.GENERATING
    )
    stale_at = services.clock.now() - jobs.STALE_JOB_AFTER - timedelta(minutes=1)
    job = await GenerationJob.create(
        organization=org,
        workspace=workspace,
        content=content,
        user=writer,
        kind=GenerationKind.DRAFT,
        status=JobStatus.RUNNING,
        model="offline",
        heartbeat_at=stale_at,
    )
    # As GenerationService.start leaves it: the content names its current job.
    await Content.filter(id=content.id).update(current_job_id=job.id)
    assert await jobs.reap_stale_generation_jobs(services) == {"reaped": 1}
    await job.refresh_from_db()
    await content.refresh_from_db()
    assert job.status is JobStatus.FAILED
    # The job recorded no previous status: the content goes back to draft.
    assert content.status is ContentStatus.DRAFT
    assert await jobs.reap_stale_generation_jobs(services) == {"reaped": 0}


async def test_every_job_is_scheduled_in_the_configured_zone(services: Services) -> None:
    scheduler = build_scheduler(services)
    scheduled = {job.id: job for job in scheduler.get_jobs()}
    catch_ups = {f"{spec.name}:catch_up" for spec in JOBS if spec.catch_up}
    assert set(scheduled) == {spec.name for spec in JOBS} | catch_ups
    assert catch_ups == {"usage_rollover:catch_up", "review_reminders:catch_up"}
    for name in {spec.name for spec in JOBS}:
        assert str(scheduled[name].trigger.timezone) == "Asia/Tehran"


# --- each occurrence once, across instances -------------------------------------------------


async def _expired_codes(services: Services, count: int) -> None:
    old = services.clock.now() - timedelta(days=2)
    for n in range(count):
        await OtpCode.create(
            phone_number=f"+98912123456{n}", code_hash="h", salt="s", created_at=old, expires_at=old
        )


async def test_two_instances_firing_one_occurrence_run_it_once(
    services: Services, settings: Settings, clock: FrozenClock
) -> None:
    await _expired_codes(services, 3)
    other = build_services(settings, clock=clock)  # a second process on the same database
    try:
        job = job_named("cleanup_expired_otps")
        results = await asyncio.gather(
            fire(job, services, trigger_of(job, services)), fire(job, other, trigger_of(job, other))
        )
    finally:
        await other.aclose()
    assert sorted(result.ran for result in results) == [False, True]
    winner = next(result for result in results if result.ran)
    assert winner.detail == {"deleted": 3}
    run = await JobRun.get(job_name="cleanup_expired_otps")
    assert (run.period_key, run.succeeded, run.detail) == (winner.key, True, {"deleted": 3})


async def test_the_occurrence_is_the_fire_time_not_the_clock(
    services: Services, clock: FrozenClock
) -> None:
    job = job_named("cleanup_expired_otps")  # every ten minutes
    clock.current = datetime(2026, 12, 2, 23, 50, 7, tzinfo=UTC)  # 03:20:07 in Tehran
    first = await fire(job, services, trigger_of(job, services))
    clock.advance(seconds=2)  # a second instance, two seconds late
    second = await fire(job, services, trigger_of(job, services))
    assert first.key == second.key == "2026-12-03T03:20:00+03:30"
    assert (first.ran, second.ran) == (True, False)
    clock.advance(minutes=10)  # the next occurrence is a new key
    assert (await fire(job, services, trigger_of(job, services))).key.endswith("03:30:00+03:30")


async def test_a_failed_run_is_recorded_and_raised(services: Services) -> None:
    async def broken() -> dict:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await run_once("broken", "k1", broken, now=services.clock.now)
    run = await JobRun.get(job_name="broken")
    assert (run.succeeded, run.detail) == (False, {"error": "RuntimeError"})
    assert run.finished_at is not None
    # The occurrence stays claimed: a retry of the same occurrence does not run it again.
    assert not (await run_once("broken", "k1", broken, now=services.clock.now)).ran


async def test_a_manual_run_has_its_own_key(services: Services) -> None:
    job = job_named("prune_refresh_tokens")
    scheduled = await fire(job, services, trigger_of(job, services))
    manual = await run_now(job, services)
    assert scheduled.ran and manual.ran
    assert manual.key.startswith("manual:") and manual.key != scheduled.key


async def test_cleanups_delete_in_batches(services: Services) -> None:
    await _expired_codes(services, 5)
    fresh = await OtpCode.create(
        phone_number="+989121111111",
        code_hash="h",
        salt="s",
        created_at=services.clock.now(),
        expires_at=services.clock.now(),
    )
    cutoff = services.clock.now() - jobs.OTP_RETENTION
    assert await jobs.delete_in_batches(OtpCode, batch=2, expires_at__lt=cutoff) == 5
    assert await OtpCode.all().values_list("id", flat=True) == [fresh.id]


async def test_each_job_has_its_own_grace_and_coalescing(services: Services) -> None:
    scheduled = {job.id: job for job in build_scheduler(services).get_jobs()}
    for spec in JOBS:
        assert scheduled[spec.name].misfire_grace_time == spec.misfire_grace.total_seconds()
        assert scheduled[spec.name].coalesce is spec.coalesce
        assert spec.why


async def test_the_running_scheduler_records_its_runs(services: Services) -> None:
    scheduler = build_scheduler(services)
    scheduler.start()
    try:
        # Due now: the scheduler's own loop fires it (real time), through the guard.
        scheduler.modify_job("prune_refresh_tokens", next_run_time=datetime.now(UTC))
        for _ in range(200):
            if await JobRun.filter(job_name="prune_refresh_tokens", succeeded=True).exists():
                break
            await asyncio.sleep(0.05)
    finally:
        scheduler.shutdown(wait=False)
    run = await JobRun.get(job_name="prune_refresh_tokens")
    assert run.detail == {"deleted": 0}
