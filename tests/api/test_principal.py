"""The caller's principal: built once per request, never carried over to the next one."""

from __future__ import annotations

import re

import pytest
from tortoise import connections

from core.container import Services
from db.models import Membership, Organization, Role, User
from tests.support.auth import auth_headers
from tests.support.factories import add_member, make_content, make_org, make_project, make_workspace
from tests.support.queries import recording_queries

pytestmark = pytest.mark.sqlite


def membership_reads(statements: list[str]) -> int:
    return sum(bool(re.search(r'\bmemberships\b|"memberships"', s)) for s in statements)


async def test_a_request_reads_the_callers_roles_once(api, services: Services) -> None:
    """A list filtered by organisation and project checks the filters and then what the caller
    may see in every organisation; /me lists the memberships: each reads them exactly once."""
    org, other = await make_org(), await make_org()
    writer = await add_member(org, Role.WRITER)
    await add_member(other, Role.EDITOR, writer)
    project = await make_project(await make_workspace(org))
    content = await make_content(project, writer)
    headers = await auth_headers(services, writer)
    filtered = f"/api/contents?organization={org.id}&project={project.id}"
    for path in (filtered, f"/api/contents/{content.id}", "/api/auth/me"):
        with recording_queries() as log:
            response = await api.get(path, headers=headers)
        assert response.status == 200, path
        assert membership_reads(log.statements) == 1, (path, log.statements)


async def test_a_role_change_counts_from_the_next_request(api, services: Services) -> None:
    org = await make_org()
    writer = await add_member(org, Role.WRITER)
    headers = await auth_headers(services, writer)
    path = f"/api/usage/summary?scope=organization&scope_id={org.id}&period=monthly"
    assert (await api.get(path, headers=headers)).status == 403  # editors and admins only
    await Membership.filter(user_id=writer.id).update(role=Role.EDITOR)
    assert (await api.get(path, headers=headers)).status == 200
    await Membership.filter(user_id=writer.id).delete()
    assert (await api.get(path, headers=headers)).status == 404  # no longer a member
    me = await api.get("/api/auth/me", headers=headers)
    assert (await me.json())["memberships"] == []
    await User.filter(id=writer.id).update(is_active=False)
    refused = await api.get("/api/auth/me", headers=headers)
    assert refused.status == 401
    assert (await refused.json())["error"]["code"] == "user_inactive"


async def test_a_logout_counts_from_the_next_request(api, services: Services) -> None:
    org = await make_org()
    writer = await add_member(org, Role.WRITER)
    tokens = await services.auth.issue_tokens(writer)
    headers = {"Authorization": f"Bearer {tokens.access}"}
    assert (await api.get("/api/contents", headers=headers)).status == 200
    logout = await api.post("/api/auth/logout", json={"refresh": tokens.refresh}, headers=headers)
    assert logout.status == 204
    refused = await api.get("/api/contents", headers=headers)
    assert refused.status == 401
    assert (await refused.json())["error"]["code"] == "token_revoked"


async def test_a_retired_organisation_counts_from_the_next_request(api, services: Services) -> None:
    org = await make_org()
    editor = await add_member(org, Role.EDITOR)
    content = await make_content(await make_project(await make_workspace(org)), editor)
    headers = await auth_headers(services, editor)
    assert (await api.get(f"/api/contents/{content.id}", headers=headers)).status == 200
    await Organization.filter(id=org.id).update(is_active=False)
    assert (await api.get(f"/api/contents/{content.id}", headers=headers)).status == 404
    me = await (await api.get("/api/auth/me", headers=headers)).json()
    assert me["memberships"] == []


async def test_an_authenticated_read_is_at_most_two_round_trips(api, services: Services) -> None:
    """PostgreSQL: the caller in one query (core/security/session_principal.py), the read in
    one more. SQLite keeps the separate reads of the user, the roles and the session."""
    org = await make_org()
    admin = await add_member(org, Role.ADMIN)
    content = await make_content(await make_project(await make_workspace(org)), admin)
    headers = await auth_headers(services, admin)
    paths = ("/api/contents", f"/api/contents/{content.id}", "/api/auth/me")
    counts = []
    for path in paths:
        with recording_queries() as log:
            response = await api.get(path, headers=headers)
        assert response.status == 200, path
        counts.append(log.count)
    if connections.get("default").capabilities.dialect == "postgres":
        assert counts == [2, 2, 2]
    else:
        assert counts == [5, 4, 4]
