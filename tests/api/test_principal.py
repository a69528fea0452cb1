"""The caller's principal: built at most once per request, kept for the next ones only while
nothing changed it (with Redis, core/security/principal_cache.py)."""

from __future__ import annotations

import re

import pytest
from tortoise import connections

from core.container import Services
from db.models import Role
from tests.support.auth import auth_headers
from tests.support.factories import (
    add_member,
    make_content,
    make_org,
    make_project,
    make_workspace,
    principal_for,
)
from tests.support.queries import recording_queries

pytestmark = pytest.mark.sqlite


def membership_reads(statements: list[str]) -> int:
    return sum(bool(re.search(r'\bmemberships\b|"memberships"', s)) for s in statements)


def caller_statements(services: Services) -> int:
    """Statements that build a warm session's principal: none while it is kept (Redis), else
    one on PostgreSQL and three apart on SQLite (user, roles, session)."""
    if services.principals.enabled:
        return 0
    return 1 if connections.get("default").capabilities.dialect == "postgres" else 3


async def warm(api, headers: dict[str, str]) -> None:
    """The first request of a session creates its user's mark, the second keeps the principal."""
    for _ in range(2):
        assert (await api.get("/api/auth/me", headers=headers)).status == 200


async def test_a_request_reads_the_callers_roles_once(api, services: Services) -> None:
    """A list filtered by organisation and project checks the filters and then what the caller
    may see in every organisation; /me lists the memberships: each reads them at most once (and
    not at all while the principal is kept)."""
    org, other = await make_org(), await make_org()
    writer = await add_member(org, Role.WRITER)
    await add_member(other, Role.EDITOR, writer)
    project = await make_project(await make_workspace(org))
    content = await make_content(project, writer)
    headers = await auth_headers(services, writer)
    filtered = f"/api/contents?organization={org.id}&project={project.id}"
    await warm(api, headers)
    expected = 0 if services.principals.enabled else 1
    for path in (filtered, f"/api/contents/{content.id}", "/api/auth/me"):
        with recording_queries() as log:
            response = await api.get(path, headers=headers)
        assert response.status == 200, path
        assert membership_reads(log.statements) == expected, (path, log.statements)


async def test_a_role_change_counts_from_the_next_request(api, services: Services) -> None:
    org = await make_org()
    admin = await principal_for(await add_member(org, Role.ADMIN))
    writer = await add_member(org, Role.WRITER)
    headers = await auth_headers(services, writer)
    path = f"/api/usage/summary?scope=organization&scope_id={org.id}&period=monthly"
    await warm(api, headers)
    assert (await api.get(path, headers=headers)).status == 403  # editors and admins only
    await services.organizations.change_role(
        actor=admin, organization_id=org.id, user_id=writer.id, role=Role.EDITOR
    )
    assert (await api.get(path, headers=headers)).status == 200
    await services.organizations.remove_member(
        actor=admin, organization_id=org.id, user_id=writer.id
    )
    assert (await api.get(path, headers=headers)).status == 404  # no longer a member
    me = await api.get("/api/auth/me", headers=headers)
    assert (await me.json())["memberships"] == []
    await services.accounts.set_user_active(writer.phone_number, active=False)
    refused = await api.get("/api/auth/me", headers=headers)
    assert refused.status == 401
    assert (await refused.json())["error"]["code"] == "user_inactive"


async def test_a_logout_counts_from_the_next_request(api, services: Services) -> None:
    org = await make_org()
    writer = await add_member(org, Role.WRITER)
    tokens = await services.auth.issue_tokens(writer)
    headers = {"Authorization": f"Bearer {tokens.access}"}
    await warm(api, headers)
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
    await warm(api, headers)
    assert (await api.get(f"/api/contents/{content.id}", headers=headers)).status == 200
    await services.accounts.set_organization_active(org.slug, active=False)
    assert (await api.get(f"/api/contents/{content.id}", headers=headers)).status == 404
    me = await (await api.get("/api/auth/me", headers=headers)).json()
    assert me["memberships"] == []


async def test_an_authenticated_read_is_at_most_two_round_trips(api, services: Services) -> None:
    """PostgreSQL: the caller in one query (core/security/session_principal.py) or none while
    it is kept, the read in one more; /me reads nothing more than the caller. SQLite keeps the
    separate reads of the user, the roles and the session."""
    org = await make_org()
    admin = await add_member(org, Role.ADMIN)
    content = await make_content(await make_project(await make_workspace(org)), admin)
    headers = await auth_headers(services, admin)
    paths = ("/api/contents", f"/api/contents/{content.id}", "/api/auth/me")
    await warm(api, headers)
    counts = []
    for path in paths:
        with recording_queries() as log:
            response = await api.get(path, headers=headers)
        assert response.status == 200, path
        counts.append(log.count)
    caller = caller_statements(services)
    if connections.get("default").capabilities.dialect == "postgres":
        assert counts == [caller + 1, caller + 1, caller]
    else:
        assert counts == [caller + 2, caller + 1, caller]
