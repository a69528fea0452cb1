"""The periodic jobs against the real database, with the frozen clock."""

from __future__ import annotations

from datetime import timedelta

from core.container import Services
from db.models import (
    ContentStatus,
    GenerationJob,
    GenerationKind,
    JobStatus,
    OtpCode,
    RefreshToken,
)
from scheduler import jobs
from scheduler.setup import JOBS, build_scheduler
from tests.support.factories import add_member, make_content, make_org, make_project, make_workspace


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
    assert await jobs.reap_stale_generation_jobs(services) == {"reaped": 1}
    await job.refresh_from_db()
    await content.refresh_from_db()
    assert job.status is JobStatus.FAILED
    assert content.status is not ContentStatus.GENERATING
    assert await jobs.reap_stale_generation_jobs(services) == {"reaped": 0}


async def test_every_job_is_scheduled_in_the_configured_zone(services: Services) -> None:
    scheduler = build_scheduler(services)
    scheduled = {job.id: job for job in scheduler.get_jobs()}
    assert set(scheduled) == {spec.name for spec in JOBS}
    for job in scheduled.values():
        assert str(job.trigger.timezone) == "Asia/Tehran"
