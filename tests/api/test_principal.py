"""The caller's principal: built once per request, never carried over to the next one."""

from __future__ import annotations

import pytest

from core.container import Services
from db.models import Membership, Role, User
from tests.support.auth import auth_headers
from tests.support.factories import add_member, make_content, make_org, make_project, make_workspace
from tests.support.queries import recording_queries

pytestmark = pytest.mark.sqlite


def membership_reads(statements: list[str]) -> int:
    return sum('"memberships"' in statement for statement in statements)


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
