"""``GET /api/usage/summary`` and ``GET/PUT /api/usage/limits``."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from core.container import Services
from db.models import Organization, Role, UsageLimit, UsageLog, User, Workspace
from tests.support.api_checks import assert_error
from tests.support.auth import auth_headers
from tests.support.factories import add_member, make_org, make_workspace
from tests.support.queries import recording_queries

pytestmark = pytest.mark.sqlite


@dataclass
class Team:
    org: Organization
    workspace: Workspace
    users: dict[str, User]
    headers: dict[str, dict[str, str]]
    foreign_org: Organization
    foreign_workspace: Workspace


@pytest.fixture
async def team(services: Services) -> Team:
    org, foreign = await make_org(), await make_org()
    users = {
        "admin": await add_member(org, Role.ADMIN),
        "editor": await add_member(org, Role.EDITOR),
        "writer": await add_member(org, Role.WRITER),
        "viewer": await add_member(org, Role.VIEWER),
        "foreign_admin": await add_member(foreign, Role.ADMIN),
        "foreign_writer": await add_member(foreign, Role.WRITER),
    }
    return Team(
        org=org,
        workspace=await make_workspace(org),
        users=users,
        headers={name: await auth_headers(services, user) for name, user in users.items()},
        foreign_org=foreign,
        foreign_workspace=await make_workspace(foreign),
    )


async def log(team: Team, services: Services, *, model: str, tokens: int, cost: str) -> None:
    await UsageLog.create(
        organization=team.org,
        workspace=team.workspace,
        user=team.users["writer"],
        model=model,
        prompt_tokens=tokens,
        completion_tokens=tokens,
        total_tokens=2 * tokens,
        cost_usd=Decimal(cost),
        created_at=services.clock.now(),
    )


async def test_summary_totals_and_per_model_breakdown(api, services: Services, team: Team) -> None:
    await log(team, services, model="gpt-4o-mini", tokens=100, cost="0.000075")
    await log(team, services, model="gpt-4o-mini", tokens=10, cost="0.000008")
    await log(team, services, model="gpt-4o", tokens=50, cost="0.001")

    with recording_queries() as queries:
        response = await api.get(
            f"/api/usage/summary?scope=workspace&scope_id={team.workspace.id}&period=monthly",
            headers=team.headers["editor"],
        )

    body = await response.json()
    assert response.status == 200, body
    assert len([q for q in queries.statements if "usage_logs" in q]) == 1
    assert {k: v for k, v in body.items() if k not in ("start", "end")} == {
        "scope": "workspace",
        "scope_id": team.workspace.id,
        "id": team.workspace.id,  # deprecated, for one release
        "period": "monthly",
        "requests": 3,
        "prompt_tokens": 160,
        "completion_tokens": 160,
        "total_tokens": 320,
        "cost_usd": "0.001083",
        "by_model": [
            {"model": "gpt-4o", "requests": 1, "total_tokens": 100, "cost_usd": "0.001000"},
            {"model": "gpt-4o-mini", "requests": 2, "total_tokens": 220, "cost_usd": "0.000083"},
        ],
    }
    assert body["start"] < body["end"]


async def test_summary_permissions(api, team: Team) -> None:
    writer = team.users["writer"]

    own = await api.get(
        f"/api/usage/summary?scope=user&id={writer.id}", headers=team.headers["writer"]
    )
    assert own.status == 200  # the deprecated name still works for one release
    assert (await own.json())["period"] == "monthly"
    assert (await own.json())["scope_id"] == writer.id
    await assert_error(
        await api.get(
            f"/api/usage/summary?scope=organization&scope_id={team.org.id}",
            headers=team.headers["writer"],
        ),
        403,
        "permission_denied",
    )
    await assert_error(
        await api.get(
            f"/api/usage/summary?scope=organization&id={team.foreign_org.id}",
            headers=team.headers["admin"],
        ),
        404,
        "not_found",
    )
    await assert_error(
        await api.get(
            f"/api/usage/summary?scope=user&id={writer.id}", headers=team.headers["foreign_admin"]
        ),
        404,
        "not_found",
    )
    for query in (
        "scope=galaxy&id=1",
        "scope=user&id=abc",
        "scope=user",
        "scope=user&id=1&period=yearly",
    ):
        await assert_error(
            await api.get(f"/api/usage/summary?{query}", headers=team.headers["admin"]),
            400,
            "invalid_input",
        )
    await assert_error(
        await api.get(f"/api/usage/summary?scope=user&id={writer.id}"), 401, "not_authenticated"
    )


async def test_limits_are_for_admins_and_upsert_one_row_per_scope_and_period(
    api, team: Team
) -> None:
    body = {
        "scope": "workspace",
        "scope_id": team.workspace.id,
        "period": "monthly",
        "tokens_limit": 100000,
    }
    await assert_error(
        await api.put("/api/usage/limits", json=body, headers=team.headers["editor"]),
        403,
        "permission_denied",
    )
    await assert_error(
        await api.get("/api/usage/limits", headers=team.headers["writer"]), 403, "permission_denied"
    )

    first = await api.put("/api/usage/limits", json=body, headers=team.headers["admin"])
    created = await first.json()
    assert first.status == 200, created
    # The cost was not named: the workspace keeps its default monthly budget.
    assert {k: v for k, v in created.items() if k != "id"} == {
        "organization_id": team.org.id,
        "scope": "workspace",
        "scope_id": team.workspace.id,
        "period": "monthly",
        "requests_limit": None,
        "tokens_limit": 100000,
        "cost_limit_usd": "100.000000",
    }
    second = await api.put(
        "/api/usage/limits/",
        json={**body, "requests_limit": 0, "cost_limit_usd": None},
        headers=team.headers["admin"],
    )
    replaced = await second.json()
    assert (replaced["id"], replaced["requests_limit"], replaced["cost_limit_usd"]) == (
        created["id"],
        0,
        None,
    )
    assert await UsageLimit.all().count() == 1

    listed = await api.get("/api/usage/limits", headers=team.headers["admin"])
    page = await listed.json()
    assert (page["count"], [r["id"] for r in page["results"]]) == (1, [created["id"]])
    foreign = await api.get("/api/usage/limits", headers=team.headers["foreign_admin"])
    assert (await foreign.json())["count"] == 0
    await assert_error(
        await api.get(
            f"/api/usage/limits?organization={team.org.id}", headers=team.headers["foreign_admin"]
        ),
        404,
        "not_found",
    )


async def test_limits_on_foreign_scopes_are_not_found(api, team: Team) -> None:
    for scope, scope_id in (
        ("organization", team.foreign_org.id),
        ("workspace", team.foreign_workspace.id),
        ("user", team.users["foreign_writer"].id),
        ("user", 999_999),
    ):
        body = {"scope": scope, "scope_id": scope_id, "period": "daily", "requests_limit": 1}
        if scope == "user":
            body["organization_id"] = team.org.id
        await assert_error(
            await api.put("/api/usage/limits", json=body, headers=team.headers["admin"]),
            404,
            "not_found",
        )
    assert await UsageLimit.all().count() == 0


async def test_limit_values_are_validated(api, team: Team) -> None:
    base = {"scope": "organization", "scope_id": team.org.id, "period": "daily"}
    for bad in (
        {"requests_limit": -1},
        {"tokens_limit": "many"},
        {"cost_limit_usd": "-0.01"},
        {"cost_limit_usd": "0.0000001"},
        {"cost_limit_usd": "NaN"},
        {"period": "weekly"},
    ):
        await assert_error(
            await api.put("/api/usage/limits", json={**base, **bad}, headers=team.headers["admin"]),
            400,
            "invalid_input",
        )
    ok = await api.put(
        "/api/usage/limits", json={**base, "cost_limit_usd": "12.5"}, headers=team.headers["admin"]
    )
    assert (await ok.json())["cost_limit_usd"] == "12.500000"
