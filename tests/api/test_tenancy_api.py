"""Organisations, members, workspaces, projects and prompts over REST: the role matrix, leaks,
shapes, the last-admin race and queries per list."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from core.container import Services
from core.prompt_library import builtin_prompts
from core.validators.phone import mask_phone
from db.models import Membership, Organization, Project, Prompt, Role, User, Workspace
from tests.support.api_checks import assert_error
from tests.support.auth import auth_headers
from tests.support.factories import (
    add_member,
    make_org,
    make_project,
    make_user,
    make_workspace,
    next_phone,
)
from tests.support.queries import recording_queries

pytestmark = pytest.mark.sqlite

ROLES = ("admin", "editor", "writer", "viewer", "non_member")
TEMPLATE = "دربارهٔ {topic} بنویس"
VARIABLES = [{"name": "topic", "label": {"fa": "موضوع", "en": "Topic"}, "required": True}]


@dataclass
class Target:
    """Fresh rows of one organisation for one request, so writes never disturb each other."""

    org: Organization
    workspace: Workspace
    project: Project
    prompt: Prompt
    member: User  # a writer of the organisation


@dataclass
class World:
    own: Organization
    foreign: Organization
    actors: dict[str, User]
    headers: dict[str, dict[str, str]]


async def make_prompt(org: Organization, workspace: Workspace | None = None) -> Prompt:
    return await Prompt.create(
        organization=org, workspace=workspace, title="P", template=TEMPLATE, variables=VARIABLES
    )


async def fresh_target(org: Organization) -> Target:
    workspace = await make_workspace(org)
    return Target(
        org=org,
        workspace=workspace,
        project=await make_project(workspace),
        prompt=await make_prompt(org),
        member=await add_member(org, Role.WRITER),
    )


@pytest.fixture
async def world(services: Services) -> World:
    own = await make_org()
    actors = {role: await add_member(own, Role(role)) for role in ROLES[:4]}
    actors["non_member"] = await make_user()
    foreign = await make_org()
    await add_member(foreign, Role.ADMIN)
    return World(
        own=own,
        foreign=foreign,
        actors=actors,
        headers={role: await auth_headers(services, user) for role, user in actors.items()},
    )


@dataclass(frozen=True)
class Case:
    """One endpoint and the status each role gets on its own organisation (ROLES order);
    on another organisation every role gets 404."""

    name: str
    method: str
    path: str  # {org} {workspace} {project} {prompt} {member} come from a fresh Target
    own: tuple[int, ...]
    body: Callable[[Target], dict[str, Any]] | None = None


def read(status: int = 200) -> tuple[int, ...]:
    return (status, status, status, status, 404)


def admins(status: int) -> tuple[int, ...]:
    return (status, 403, 403, 403, 404)


def editors(status: int) -> tuple[int, ...]:
    return (status, status, 403, 403, 404)


ORG = "/api/organizations/{org}"
CASES = [
    Case("get organization", "GET", ORG, read()),
    Case("update organization", "PATCH", ORG, admins(200), lambda t: {"name": "نام تازه"}),
    Case("list members", "GET", ORG + "/members", read()),
    Case(
        "invite member",
        "POST",
        ORG + "/members",
        admins(201),
        lambda t: {"phone_number": next_phone(), "role": "writer"},
    ),
    Case("get member", "GET", ORG + "/members/{member}", read()),
    Case(
        "change role", "PATCH", ORG + "/members/{member}", admins(200), lambda t: {"role": "editor"}
    ),
    Case("remove member", "DELETE", ORG + "/members/{member}", admins(204)),
    Case("list workspaces", "GET", "/api/workspaces?organization={org}", read()),
    Case(
        "create workspace",
        "POST",
        "/api/workspaces",
        admins(201),
        lambda t: {"organization": t.org.id, "name": "تیم فروش"},
    ),
    Case("get workspace", "GET", "/api/workspaces/{workspace}", read()),
    Case(
        "update workspace",
        "PATCH",
        "/api/workspaces/{workspace}",
        admins(200),
        lambda t: {"name": "W"},
    ),
    Case("delete workspace", "DELETE", "/api/workspaces/{workspace}", admins(204)),
    Case("list projects by org", "GET", "/api/projects?organization={org}", read()),
    Case("list projects by workspace", "GET", "/api/projects?workspace={workspace}", read()),
    Case(
        "create project",
        "POST",
        "/api/projects",
        admins(201),
        lambda t: {"workspace": t.workspace.id, "name": "کمپین بهار"},
    ),
    Case("get project", "GET", "/api/projects/{project}", read()),
    Case(
        "update project", "PATCH", "/api/projects/{project}", admins(200), lambda t: {"name": "P"}
    ),
    Case("delete project", "DELETE", "/api/projects/{project}", admins(204)),
    Case("list prompts by org", "GET", "/api/prompts?organization={org}", read()),
    Case("list prompts by workspace", "GET", "/api/prompts?workspace={workspace}", read()),
    Case(
        "create prompt",
        "POST",
        "/api/prompts",
        editors(201),
        lambda t: {
            "organization": t.org.id,
            "title": "کپشن",
            "template": TEMPLATE,
            "variables": VARIABLES,
        },
    ),
    Case("get prompt", "GET", "/api/prompts/{prompt}", read()),
    Case("update prompt", "PATCH", "/api/prompts/{prompt}", editors(200), lambda t: {"title": "T"}),
    Case("delete prompt", "DELETE", "/api/prompts/{prompt}", editors(204)),
]
ERROR_CODES = {401: "not_authenticated", 403: "permission_denied", 404: "not_found"}


def request_of(case: Case, target: Target) -> tuple[str, dict[str, Any] | None]:
    path = case.path.format(
        org=target.org.id,
        workspace=target.workspace.id,
        project=target.project.id,
        prompt=target.prompt.id,
        member=target.member.id,
    )
    return path, case.body(target) if case.body else None


GROUPS = ("organizations", "workspaces", "projects", "prompts")


def group_of(case: Case) -> str:
    """``/api/<group>/…`` (members belong to organizations)."""
    return case.path.split("?")[0].split("/")[2]


@pytest.mark.parametrize("group", GROUPS)
async def test_role_matrix_on_own_and_foreign_organisations(api, world: World, group: str) -> None:
    """Every endpoint x every role x own and foreign organisation: the exact status."""
    assert {group_of(c) for c in CASES} == set(GROUPS)
    cases = [c for c in CASES if group_of(c) == group]
    expected, seen = {}, {}
    for case in cases:
        for side, org in (("own", world.own), ("foreign", world.foreign)):
            statuses = case.own if side == "own" else (404,) * len(ROLES)
            for role, status in zip(ROLES, statuses, strict=True):
                path, body = request_of(case, await fresh_target(org))
                response = await api.request(
                    case.method, path, json=body, headers=world.headers[role]
                )
                expected[case.name, side, role] = status
                seen[case.name, side, role] = response.status
                if response.status in ERROR_CODES:
                    await assert_error(response, response.status, ERROR_CODES[response.status])
    assert seen == expected


async def test_every_endpoint_needs_a_valid_token(api, world: World) -> None:
    target = await fresh_target(world.own)
    for case in CASES:
        path, body = request_of(case, target)
        for headers, code in (
            ({}, "not_authenticated"),
            ({"Authorization": "Basic x"}, "not_authenticated"),
            ({"Authorization": "Bearer not-a-token"}, "invalid_token"),
        ):
            response = await api.request(case.method, path, json=body, headers=headers)
            await assert_error(response, 401, code)


async def test_anyone_signed_in_creates_an_organisation_and_becomes_its_admin(
    api, world: World
) -> None:
    for role in ROLES:
        response = await api.post(
            "/api/organizations/", json={"name": "Nova Press"}, headers=world.headers[role]
        )
        assert response.status == 201, await response.text()
        created = await response.json()
        assert set(created) == {"id", "name", "slug", "language"}
        assert created["slug"].startswith("nova-press") and created["language"] == "fa"
        members = await (
            await api.get(
                f"/api/organizations/{created['id']}/members", headers=world.headers[role]
            )
        ).json()
        assert members["results"] == [
            {
                "user": {
                    "id": world.actors[role].id,
                    "phone_number": world.actors[role].phone_number,
                    "full_name": None,
                },
                "role": "admin",
            }
        ]
    await assert_error(
        await api.post("/api/organizations", json={"name": ""}, headers=world.headers["admin"]),
        400,
        "invalid_input",
    )


# -- lists never leak ---------------------------------------------------------------------


async def test_lists_hold_and_count_only_the_callers_organisations(api, world: World) -> None:
    own_workspaces = [await make_workspace(world.own) for _ in range(2)]
    own_projects = [await make_project(w) for w in own_workspaces]
    own_prompts = [await make_prompt(world.own), await make_prompt(world.own, own_workspaces[0])]
    for _ in range(3):  # the other tenant has more of everything, so counts would show a leak
        workspace = await make_workspace(world.foreign)
        await make_project(workspace)
        await make_prompt(world.foreign)
        await make_prompt(world.foreign, workspace)
        await add_member(world.foreign, Role.WRITER)
    lists = {
        "/api/organizations": ("id", {world.own.id}),
        "/api/workspaces": ("id", {w.id for w in own_workspaces}),
        "/api/projects": ("id", {p.id for p in own_projects}),
        "/api/prompts": ("id", {p.id for p in own_prompts}),
    }
    for role in ROLES:
        for path, (key, own_ids) in lists.items():
            response = await api.get(path, params={"page_size": 100}, headers=world.headers[role])
            page = await response.json()
            wanted = set() if role == "non_member" else own_ids
            assert response.status == 200
            assert {row[key] for row in page["results"]} == wanted, (role, path)
            assert page["count"] == len(wanted), (role, path)
    members = await api.get(
        f"/api/organizations/{world.own.id}/members", headers=world.headers["viewer"]
    )
    page = await members.json()
    assert page["count"] == 4
    assert {m["user"]["id"] for m in page["results"]} == {
        u.id for r, u in world.actors.items() if r != "non_member"
    }
    # Phone numbers: masked for a viewer, whole for an admin.
    assert {m["user"]["id"]: m["user"]["phone_number"] for m in page["results"]} == {
        u.id: mask_phone(u.phone_number) for r, u in world.actors.items() if r != "non_member"
    }
    admin_page = await (
        await api.get(f"/api/organizations/{world.own.id}/members", headers=world.headers["admin"])
    ).json()
    assert {m["user"]["id"]: m["user"]["phone_number"] for m in admin_page["results"]} == {
        u.id: u.phone_number for r, u in world.actors.items() if r != "non_member"
    }


async def test_lists_page_and_filter(api, world: World) -> None:
    workspace = await make_workspace(world.own)
    for _ in range(5):
        await make_project(workspace)
    await make_project(await make_workspace(world.own))
    headers = world.headers["writer"]
    first = await (
        await api.get(f"/api/projects?workspace={workspace.id}&page_size=2", headers=headers)
    ).json()
    assert first["count"] == 5 and len(first["results"]) == 2 and first["previous"] is None
    assert "page=2" in first["next"] and f"workspace={workspace.id}" in first["next"]
    last = await (
        await api.get(f"/api/projects?workspace={workspace.id}&page_size=2&page=3", headers=headers)
    ).json()
    assert len(last["results"]) == 1 and last["next"] is None
    mismatch = await api.get(
        f"/api/projects?workspace={workspace.id}&organization={world.foreign.id}", headers=headers
    )
    await assert_error(mismatch, 404, "not_found")
    await assert_error(
        await api.get("/api/prompts?category=poetry", headers=headers), 400, "invalid_input"
    )
    await assert_error(
        await api.get("/api/workspaces?page_size=101", headers=headers), 400, "invalid_input"
    )


async def test_lists_issue_no_query_per_row(api, services: Services, world: World) -> None:
    own = world.own
    headers = world.headers["viewer"]
    paths = [
        "/api/organizations",
        f"/api/organizations/{own.id}/members",
        "/api/workspaces",
        "/api/projects",
        "/api/prompts",
    ]

    async def queries_per_path() -> list[int]:
        counts = []
        for path in paths:
            with recording_queries() as log:
                response = await api.get(path, params={"page_size": 100}, headers=headers)
            assert response.status == 200
            counts.append(log.count)
        return counts

    workspace = await make_workspace(own)
    await make_project(workspace)
    await make_prompt(own)
    await queries_per_path()  # the caller's principal is kept from here on (with Redis)
    few = await queries_per_path()
    for _ in range(15):
        workspace = await make_workspace(own)
        await make_project(workspace)
        await make_prompt(own, workspace)
        await add_member(own, Role.VIEWER)
        await add_member(await make_org(), Role.VIEWER, world.actors["viewer"])
    # The factories write memberships by hand, past core's invalidation: say so, as core does.
    await services.principals.changed(world.actors["viewer"].id)
    await queries_per_path()
    assert await queries_per_path() == few


# -- members ------------------------------------------------------------------------------


async def test_invite_change_and_remove_a_member(api, world: World) -> None:
    base = f"/api/organizations/{world.own.id}/members"
    admin = world.headers["admin"]
    invited = await api.post(
        base,
        json={"phone_number": "۰۹۳۵-۱۲۳-۴۵۶۷", "role": "editor", "full_name": "سارا"},
        headers=admin,
    )
    assert invited.status == 201, await invited.text()
    body = await invited.json()
    assert body["role"] == "editor" and body["user"]["phone_number"] == "+989351234567"
    assert body["user"]["full_name"] == "سارا"
    user_id = body["user"]["id"]
    again = await api.post(
        base, json={"phone_number": "09351234567", "role": "viewer"}, headers=admin
    )
    await assert_error(again, 409, "already_member")
    bad = await api.post(
        base, json={"phone_number": "02188881234", "role": "viewer"}, headers=admin
    )
    await assert_error(bad, 400, "landline_phone")
    foreign = await api.post(
        base, json={"phone_number": "+12015550123", "role": "viewer"}, headers=admin
    )
    await assert_error(foreign, 400, "phone_region_not_accepted")
    wrong_role = await api.post(
        base, json={"phone_number": next_phone(), "role": "owner"}, headers=admin
    )
    await assert_error(wrong_role, 400, "invalid_input")

    changed = await api.patch(f"{base}/{user_id}/", json={"role": "admin"}, headers=admin)
    assert (await changed.json())["role"] == "admin"
    assert (await api.delete(f"{base}/{user_id}", headers=admin)).status == 204
    await assert_error(await api.get(f"{base}/{user_id}", headers=admin), 404, "not_found")
    await assert_error(await api.get(f"{base}/abc", headers=admin), 404, "not_found")


async def test_the_last_admin_stays_and_the_answer_is_in_persian(api, world: World) -> None:
    admin = world.actors["admin"]
    path = f"/api/organizations/{world.own.id}/members/{admin.id}"
    headers = {**world.headers["admin"], "Accept-Language": "fa-IR,fa;q=0.9"}
    for response in (
        await api.patch(path, json={"role": "viewer"}, headers=headers),
        await api.delete(path, headers=headers),
    ):
        error = await assert_error(response, 409, "last_admin")
        assert "مدیر" in error["message"]
    assert await Membership.filter(user_id=admin.id, role=Role.ADMIN).exists()


@pytest.mark.parametrize("attempt", range(3))
async def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    api, services: Services, attempt: int
) -> None:
    org = await make_org()
    first, second = await add_member(org, Role.ADMIN), await add_member(org, Role.ADMIN)
    base = f"/api/organizations/{org.id}/members"
    responses = await asyncio.gather(
        api.patch(
            f"{base}/{second.id}",
            json={"role": "editor"},
            headers=await auth_headers(services, first),
        ),
        api.patch(
            f"{base}/{first.id}",
            json={"role": "editor"},
            headers=await auth_headers(services, second),
        ),
    )
    # The loser is no longer an admin (403); 409 last_admin would mean a stale admin list.
    assert sorted(r.status for r in responses) == [200, 403]
    assert await Membership.filter(organization_id=org.id, role=Role.ADMIN).count() == 1


# -- catalog and prompts ------------------------------------------------------------------


async def test_workspace_and_project_shapes_and_slugs(api, world: World) -> None:
    admin = world.headers["admin"]
    created = await api.post(
        "/api/workspaces",
        json={"organization": world.own.id, "name": "گزارش ماهانه", "description": "همه"},
        headers=admin,
    )
    workspace = await created.json()
    assert created.status == 201
    assert workspace == {
        "id": workspace["id"],
        "organization": world.own.id,
        "name": "گزارش ماهانه",
        "slug": "گزارش-ماهانه",
        "description": "همه",
    }
    project = await (
        await api.post(
            "/api/projects",
            json={"workspace": workspace["id"], "name": "Spring Launch"},
            headers=admin,
        )
    ).json()
    assert project == {
        "id": project["id"],
        "workspace": workspace["id"],
        "name": "Spring Launch",
        "slug": "spring-launch",
        "description": "",
    }
    renamed = await api.patch(
        f"/api/projects/{project['id']}",
        json={"name": "Launch", "description": None},
        headers=admin,
    )
    assert (await renamed.json())["slug"] == "spring-launch"
    extra = await api.post(
        "/api/workspaces",
        json={"organization": world.own.id, "name": "x", "slug": "y"},
        headers=admin,
    )
    await assert_error(extra, 400, "invalid_input")
    nul = await api.post(
        "/api/workspaces", json={"organization": world.own.id, "name": "a\x00b"}, headers=admin
    )
    error = await assert_error(nul, 400, "invalid_characters")  # never a 500 from PostgreSQL
    assert error["field"] == "name"


async def test_prompts_are_validated_and_keep_the_design_shape(api, world: World) -> None:
    editor = world.headers["editor"]
    body = {
        "organization": world.own.id,
        "title": "کپشن",
        "category": "social",
        "kind": "caption",
        "template": "{topic} با لحن {tone} و {{literal}}",
        "variables": [
            VARIABLES[0],
            {"name": "tone", "label": "لحن", "type": "choice", "choices": ["رسمی", "صمیمی"]},
        ],
    }
    created = await api.post("/api/prompts", json=body, headers=editor)
    prompt = await created.json()
    assert created.status == 201, prompt
    assert prompt["workspace"] is None and prompt["is_builtin"] is False and prompt["key"] is None
    assert prompt["variables"][1] == {
        "name": "tone",
        "label": "لحن",
        "type": "choice",
        "required": False,
        "default": None,
        "choices": ["رسمی", "صمیمی"],
        "max_length": None,
        "min_value": None,
        "max_value": None,
        "help": None,
    }
    undeclared = await api.post(
        "/api/prompts", json={**body, "template": "{topic} {audience}"}, headers=editor
    )
    error = await assert_error(undeclared, 400, "undeclared_variables")
    assert error["variables"] == ["audience"]
    bad_type = {**body, "variables": [{**VARIABLES[0], "type": "date"}]}
    error = await assert_error(
        await api.post("/api/prompts", json=bad_type, headers=editor), 400, "invalid_input"
    )
    assert any(f["field"].startswith("variables.0.type") for f in error["fields"])
    nul_label = {**body, "variables": [{**VARIABLES[0], "label": {"fa": "\x00"}}]}
    await assert_error(
        await api.post("/api/prompts", json=nul_label, headers=editor), 400, "invalid_characters"
    )

    path = f"/api/prompts/{prompt['id']}"
    workspace = await make_workspace(world.own)
    moved = await (await api.patch(path, json={"workspace": workspace.id}, headers=editor)).json()
    assert moved["workspace"] == workspace.id
    back = await (
        await api.patch(path, json={"workspace": None, "title": None}, headers=editor)
    ).json()
    assert back["workspace"] is None and back["title"] == "کپشن"
    foreign_ws = await make_workspace(world.foreign)
    await assert_error(
        await api.patch(path, json={"workspace": foreign_ws.id}, headers=editor), 404, "not_found"
    )


async def test_a_new_organisation_lists_its_defaults_and_library(api, world: World) -> None:
    admin = world.headers["writer"]
    org = await (
        await api.post("/api/organizations", json={"name": "Acme", "language": "en"}, headers=admin)
    ).json()
    workspaces = await (
        await api.get(f"/api/workspaces?organization={org['id']}", headers=admin)
    ).json()
    assert [w["name"] for w in workspaces["results"]] == ["Main workspace"]
    prompts = await (
        await api.get(
            f"/api/prompts?organization={org['id']}&language=fa&page_size=100", headers=admin
        )
    ).json()
    assert {p["key"] for p in prompts["results"]} == {
        p.key for p in builtin_prompts() if p.language == "fa"
    }
    assert all(p["is_builtin"] for p in prompts["results"])


async def test_openapi_describes_every_tenancy_route(api) -> None:
    spec = await (await api.get("/api/openapi.json")).json()
    for path in (
        "/api/organizations",
        "/api/organizations/{id}",
        "/api/organizations/{id}/members",
        "/api/organizations/{id}/members/{user_id}",
        "/api/workspaces",
        "/api/workspaces/{id}",
        "/api/projects",
        "/api/projects/{id}",
        "/api/prompts",
        "/api/prompts/{id}",
    ):
        assert path in spec["paths"], path
    assert "PromptVariable" in spec["components"]["schemas"]
