"""``POST /api/contents/{id}/generate`` and ``GET /api/jobs/{id}``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from core.container import Services
from db.models import (
    Content,
    ContentStatus,
    GenerationJob,
    Role,
    UsageLimit,
    UsagePeriod,
    UsageScope,
    User,
)
from tests.support.api_checks import assert_error
from tests.support.auth import auth_headers
from tests.support.factories import (
    add_member,
    make_org,
    make_project,
    make_workspace,
    principal_for,
)

BODY = "متن نمونه برای آزمون تولید"

pytestmark = pytest.mark.sqlite


@dataclass
class Team:
    users: dict[str, User]
    headers: dict[str, dict[str, str]]
    content: Content
    foreign_content: Content


@pytest.fixture
async def team(services: Services) -> Team:
    org, foreign = await make_org(), await make_org()
    users = {
        "admin": await add_member(org, Role.ADMIN),
        "editor": await add_member(org, Role.EDITOR),
        "writer": await add_member(org, Role.WRITER),
        "other_writer": await add_member(org, Role.WRITER),
        "viewer": await add_member(org, Role.VIEWER),
        "foreign_admin": await add_member(foreign, Role.ADMIN),
    }
    project = await make_project(await make_workspace(org))
    foreign_project = await make_project(await make_workspace(foreign))
    content = await services.content.create(
        actor=await principal_for(users["writer"]), project_id=project.id, title="عنوان", body=BODY
    )
    foreign_content = await services.content.create(
        actor=await principal_for(users["foreign_admin"]),
        project_id=foreign_project.id,
        title="عنوان",
        body=BODY,
    )
    return Team(
        users=users,
        headers={name: await auth_headers(services, user) for name, user in users.items()},
        content=content,
        foreign_content=foreign_content,
    )


async def test_generate_answers_202_with_the_job_and_the_job_then_succeeds(
    api, services: Services, team: Team
) -> None:
    response = await api.post(
        f"/api/contents/{team.content.id}/generate",
        json={"kind": "caption", "instructions": "کوتاه"},
        headers=team.headers["writer"],
    )

    body = await response.json()
    assert response.status == 202, body
    job = {k: v for k, v in body.items() if k != "job"}
    assert body["job"] == job  # the deprecated wrapper says the same, for one release
    assert response.headers["Location"] == f"/api/jobs/{job['id']}"
    assert {k: job[k] for k in ("content", "status", "kind", "error", "usage")} == {
        "content": team.content.id,
        "status": "pending",
        "kind": "caption",
        "error": None,
        "usage": None,
    }
    await services.generation.drain()
    response = await api.get(f"/api/jobs/{job['id']}/", headers=team.headers["writer"])
    done = await response.json()
    assert response.status == 200, done
    assert (done["status"], done["version"], done["model"]) == ("succeeded", 2, "offline")
    assert done["usage"]["cost_usd"] == "0.000000"
    assert done["usage"]["total_tokens"] > 0
    assert (await Content.get(id=team.content.id)).status == ContentStatus.DRAFT


async def test_generate_over_a_limit_is_402_naming_the_limit_in_the_users_language(
    api, team: Team
) -> None:
    await UsageLimit.create(
        organization_id=team.content.organization_id,
        scope=UsageScope.USER,
        scope_id=team.users["writer"].id,
        period=UsagePeriod.DAILY,
        requests_limit=0,
    )

    response = await api.post(
        f"/api/contents/{team.content.id}/generate",
        json={},
        headers={**team.headers["writer"], "Accept-Language": "fa"},
    )

    error = await assert_error(response, 402, "usage_limit_exceeded")
    assert (error["scope"], error["period"], error["kind"], error["limit"]) == (
        "user",
        "daily",
        "requests",
        0,
    )
    assert error["message"] == "تعداد درخواست‌های روزانهٔ حساب شما (۰ درخواست) به سقف رسیده است."
    assert await GenerationJob.all().count() == 0
    assert (await Content.get(id=team.content.id)).status == ContentStatus.DRAFT


async def test_generate_refusals(api, services: Services, team: Team) -> None:
    url = f"/api/contents/{team.content.id}/generate"
    await assert_error(await api.post(url, json={}), 401, "not_authenticated")
    foreign_url = f"/api/contents/{team.foreign_content.id}/generate"
    await assert_error(
        await api.post(foreign_url, json={}, headers=team.headers["writer"]), 404, "not_found"
    )
    await assert_error(
        await api.post(url, json={}, headers=team.headers["foreign_admin"]), 404, "not_found"
    )
    await assert_error(
        await api.post(url, json={"kind": "poem"}, headers=team.headers["writer"]),
        400,
        "invalid_input",
    )
    await assert_error(
        await api.post(url, json={"variables": {"x": {"y": 1}}}, headers=team.headers["writer"]),
        400,
        "invalid_input",
    )
    # Approved content: the viewer sees it but may not generate; nobody may regenerate it.
    await services.content.submit(
        actor=await principal_for(team.users["writer"]), content_id=team.content.id
    )
    await assert_error(
        await api.post(url, json={}, headers=team.headers["writer"]), 409, "content_in_review"
    )
    await services.content.approve(
        actor=await principal_for(team.users["editor"]), content_id=team.content.id
    )
    for who, status, code in (
        ("admin", 409, "content_approved"),
        ("editor", 409, "content_approved"),
        ("writer", 409, "content_approved"),  # the author
        ("other_writer", 403, "permission_denied"),  # sees it, but it is not theirs
        ("viewer", 403, "permission_denied"),
        ("foreign_admin", 404, "not_found"),
    ):
        await assert_error(await api.post(url, json={}, headers=team.headers[who]), status, code)
    assert await GenerationJob.all().count() == 0


async def test_a_job_is_visible_to_its_requester_and_editors(
    api, services: Services, team: Team
) -> None:
    response = await api.post(
        f"/api/contents/{team.content.id}/generate", json={}, headers=team.headers["writer"]
    )
    job_id = (await response.json())["id"]
    await services.generation.drain()

    for name in ("writer", "editor", "admin"):
        response = await api.get(f"/api/jobs/{job_id}", headers=team.headers[name])
        assert response.status == 200, name
    for name in ("other_writer", "viewer", "foreign_admin"):
        await assert_error(
            await api.get(f"/api/jobs/{job_id}", headers=team.headers[name]), 404, "not_found"
        )
    for bad in (str(job_id + 1), "abc", "0"):
        await assert_error(
            await api.get(f"/api/jobs/{bad}", headers=team.headers["admin"]), 404, "not_found"
        )
    await assert_error(await api.get(f"/api/jobs/{job_id}"), 401, "not_authenticated")


async def test_another_organisation_cannot_starve_a_member_by_limiting_them_there(
    api, services: Services, team: Team
) -> None:
    """An attacker's organisation invites the victim and sets their user limit to 0: the limit
    holds in the attacker's organisation only; the victim still generates in their own."""
    victim = team.users["writer"]
    attacker = team.headers["foreign_admin"]
    created = await api.post("/api/organizations", json={"name": "دام"}, headers=attacker)
    trap = (await created.json())["id"]
    invited = await api.post(
        f"/api/organizations/{trap}/members",
        json={"phone_number": victim.phone_number, "role": "writer"},
        headers=attacker,
    )
    assert invited.status == 201, await invited.json()
    zero = {"scope": "user", "scope_id": victim.id, "period": "daily", "requests_limit": 0}
    await assert_error(
        await api.put("/api/usage/limits", json=zero, headers=attacker),
        400,
        "limit_organization_required",
    )
    # Naming the victim's organisation: the attacker is no member there.
    home = team.content.organization_id
    await assert_error(
        await api.put(
            "/api/usage/limits", json={**zero, "organization_id": home}, headers=attacker
        ),
        404,
        "not_found",
    )
    limited = await api.put(
        "/api/usage/limits", json={**zero, "organization_id": trap}, headers=attacker
    )
    assert limited.status == 200, await limited.json()

    response = await api.post(
        f"/api/contents/{team.content.id}/generate", json={}, headers=team.headers["writer"]
    )
    assert response.status == 202, await response.json()
    await services.generation.drain()
    job = await GenerationJob.get(id=(await response.json())["job"]["id"])
    assert job.status == "succeeded"
    # The victim's organisation does not see (or apply) the attacker's row.
    listed = await (await api.get("/api/usage/limits", headers=team.headers["admin"])).json()
    assert listed["count"] == 0


async def test_unlock_is_409_when_not_generating_and_frees_a_dead_jobs_content(
    api, services: Services, team: Team
) -> None:
    url = f"/api/contents/{team.content.id}/unlock"
    await assert_error(await api.post(url, headers=team.headers["writer"]), 409, "not_generating")
    await assert_error(
        await api.post(
            f"/api/contents/{team.foreign_content.id}/unlock", headers=team.headers["writer"]
        ),
        404,
        "not_found",
    )
    # A job whose process died: generating, owned by an instance without a lease.
    job = await GenerationJob.create(
        organization_id=team.content.organization_id,
        workspace_id=team.content.workspace_id,
        content_id=team.content.id,
        user_id=team.users["writer"].id,
        kind="draft",
        status="running",
        model="offline",
        params={"previous_status": "draft"},
        heartbeat_at=services.clock.now(),
        owner="gone:1:dead",
    )
    await Content.filter(id=team.content.id).update(
        status=ContentStatus.GENERATING, current_job_id=job.id
    )
    # The edit's 409 says the author may unlock now (the owner is dead), and which content.
    locked = await assert_error(
        await api.patch(
            f"/api/contents/{team.content.id}",
            json={"title": "x"},
            headers=team.headers["writer"],
        ),
        409,
        "content_generating",
    )
    assert (locked["retry_after"], locked["content_id"]) == (0, team.content.id)
    assert datetime.fromisoformat(locked["unlock_at"]) == services.clock.now().replace(
        microsecond=0
    )
    # So does a regeneration's.
    again = await assert_error(
        await api.post(
            f"/api/contents/{team.content.id}/generate", json={}, headers=team.headers["writer"]
        ),
        409,
        "content_generating",
    )
    assert (again["retry_after"], again["content_id"]) == (0, team.content.id)

    response = await api.post(url, headers=team.headers["writer"])

    body = await response.json()
    assert response.status == 200, body
    assert body["status"] == "draft"
    assert (await GenerationJob.get(id=job.id)).error == "job_abandoned"


async def test_a_live_jobs_409_says_when_the_author_may_unlock_and_unlock_waits_for_it(
    api, services: Services, team: Team, clock
) -> None:
    # A job of this very process (alive), last seen now: unlockable once the grace has passed.
    job = await GenerationJob.create(
        organization_id=team.content.organization_id,
        workspace_id=team.content.workspace_id,
        content_id=team.content.id,
        user_id=team.users["writer"].id,
        kind="draft",
        status="running",
        model="offline",
        params={"previous_status": "draft"},
        heartbeat_at=clock.now(),
        owner=services.generation.instance_id,
    )
    await Content.filter(id=team.content.id).update(
        status=ContentStatus.GENERATING, current_job_id=job.id
    )
    grace = services.settings.generation_unlock_grace_seconds
    ends = clock.now() + timedelta(seconds=grace)
    edit = await api.patch(
        f"/api/contents/{team.content.id}", json={"body": "x"}, headers=team.headers["writer"]
    )
    locked = await assert_error(edit, 409, "content_generating")
    assert (locked["retry_after"], datetime.fromisoformat(locked["unlock_at"])) == (grace, ends)

    url = f"/api/contents/{team.content.id}/unlock"
    early = await assert_error(
        await api.post(url, headers=team.headers["writer"]), 409, "generation_still_running"
    )
    assert datetime.fromisoformat(early["unlock_at"]) == ends
    clock.advance(seconds=grace)
    response = await api.post(url, headers=team.headers["writer"])
    assert response.status == 200, await response.json()
    assert (await Content.get(id=team.content.id)).status == ContentStatus.DRAFT
