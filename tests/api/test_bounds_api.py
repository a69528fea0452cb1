"""Over HTTP: lone surrogates and control characters answer the envelope (never 500), foreign
list filters are 404, retired workspaces take their content with them, search has a minimum.

JSON bodies are sent as raw bytes: ``"\\ud800"`` written as an escape is what a client sends,
and ``json.loads`` turns it into a lone surrogate that PostgreSQL refuses and UTF-8 cannot encode.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.container import Services
from db.models import Content, Organization, Project, Prompt, Role, User, Workspace
from tests.support.api_checks import assert_error
from tests.support.auth import auth_headers
from tests.support.factories import (
    add_member,
    make_org,
    make_project,
    make_workspace,
    principal_for,
)

pytestmark = pytest.mark.sqlite

SURROGATE = "\\ud800"  # the six characters of the JSON escape


@dataclass
class Team:
    org: Organization
    workspace: Workspace
    project: Project
    admin: User
    writer: User
    headers: dict[str, dict[str, str]]
    foreign: Organization


@pytest.fixture
async def team(services: Services) -> Team:
    org, foreign = await make_org(), await make_org()
    admin, writer = await add_member(org, Role.ADMIN), await add_member(org, Role.WRITER)
    workspace = await make_workspace(org)
    await make_project(await make_workspace(foreign))
    return Team(
        org=org,
        workspace=workspace,
        project=await make_project(workspace),
        admin=admin,
        writer=writer,
        headers={
            "admin": await auth_headers(services, admin),
            "writer": await auth_headers(services, writer),
        },
        foreign=foreign,
    )


def raw(text: str) -> bytes:
    return text.encode()


async def assert_refused(response) -> None:
    """400 with the envelope: the schema layer or the service may be the one that refuses."""
    body = await response.json()
    assert response.status == 400, body
    assert body["error"]["code"] in ("invalid_input", "invalid_variables", "invalid_characters")
    assert body["error"]["message"]


async def test_lone_surrogates_in_prompt_variables_answer_400(api, team: Team) -> None:
    headers = {**team.headers["admin"], "Content-Type": "application/json"}
    for variable in (
        f'{{"name": "x", "label": "X", "default": "a{SURROGATE}"}}',
        f'{{"name": "x", "label": "X", "type": "choice", "choices": ["a", "b{SURROGATE}"]}}',
    ):
        body = (
            f'{{"organization": {team.org.id}, "title": "P", "template": "{{x}}", '
            f'"variables": [{variable}]}}'
        )
        response = await api.post("/api/prompts", data=raw(body), headers=headers)
        await assert_refused(response)
    prompt = await Prompt.create(organization=team.org, title="P", template="t")
    body = f'{{"variables": [{{"name": "x", "label": "X", "default": "{SURROGATE}"}}]}}'
    response = await api.patch(f"/api/prompts/{prompt.id}", data=raw(body), headers=headers)
    await assert_refused(response)


async def test_lone_surrogates_and_control_characters_in_content_and_generate_answer_400(
    api, services: Services, team: Team
) -> None:
    headers = {**team.headers["writer"], "Content-Type": "application/json"}
    for body in (
        f'{{"project": {team.project.id}, "title": "t{SURROGATE}"}}',
        f'{{"project": {team.project.id}, "title": "t", "body": "esc\\u001b[31m"}}',
        f'{{"project": {team.project.id}, "title": "t", "variables": {{"k": "{SURROGATE}"}}}}',
    ):
        response = await api.post("/api/contents", data=raw(body), headers=headers)
        await assert_refused(response)
    content = await services.content.create(
        actor=await principal_for(team.writer), project_id=team.project.id, title="t", body="b"
    )
    url = f"/api/contents/{content.id}/generate"
    for body in (
        f'{{"variables": {{"topic": "a{SURROGATE}"}}}}',
        '{"instructions": "bell\\u0007"}',
    ):
        await assert_refused(await api.post(url, data=raw(body), headers=headers))
    assert (await Content.get(id=content.id)).version_count == 1


async def test_names_made_only_of_invisible_characters_are_refused(api, team: Team) -> None:
    for name in ("\u200b", "\ufeff", "\u2060 \u200c"):
        response = await api.post(
            "/api/workspaces",
            json={"organization": team.org.id, "name": name},
            headers=team.headers["admin"],
        )
        await assert_error(response, 400, "name_required")


async def test_a_contents_filter_naming_what_the_caller_cannot_see_is_404(api, team: Team) -> None:
    headers = team.headers["writer"]
    for query in (f"organization={team.foreign.id}", "organization=999999", "workspace=999999"):
        await assert_error(
            await api.get(f"/api/contents?{query}", headers=headers), 404, "not_found"
        )
    response = await api.get(f"/api/contents?organization={team.org.id}", headers=headers)
    assert response.status == 200


async def test_a_retired_workspace_takes_its_content_limits_and_summary_with_it(
    api, services: Services, team: Team
) -> None:
    content = await services.content.create(
        actor=await principal_for(team.writer), project_id=team.project.id, title="t", body="b"
    )
    admin = team.headers["admin"]
    limit = {
        "scope": "workspace",
        "scope_id": team.workspace.id,
        "period": "monthly",
        "requests_limit": 5,
    }
    assert (await api.put("/api/usage/limits", json=limit, headers=admin)).status == 200
    response = await api.delete(f"/api/workspaces/{team.workspace.id}", headers=admin)
    assert response.status == 204

    url = f"/api/contents/{content.id}"
    for method, path, body in (
        ("GET", url, None),
        ("PATCH", url, {"body": "new"}),
        ("POST", url + "/generate", {}),
        ("POST", url + "/submit", None),
        ("GET", url + "/versions", None),
        ("PUT", "/api/usage/limits", limit),
        ("GET", f"/api/usage/summary?scope=workspace&id={team.workspace.id}", None),
    ):
        response = await api.request(method, path, json=body, headers=admin)
        await assert_error(response, 404, "not_found")
    listed = await (await api.get("/api/contents", headers=admin)).json()
    assert listed["count"] == 0
    limits = await (await api.get("/api/usage/limits", headers=admin)).json()
    assert limits["count"] == 0


async def test_search_needs_three_characters(api, team: Team) -> None:
    headers = team.headers["writer"]
    await assert_error(
        await api.get("/api/contents?search=ab", headers=headers), 400, "search_too_short"
    )
    assert (await api.get("/api/contents?search=abc", headers=headers)).status == 200
