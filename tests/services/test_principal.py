"""``load_principal``: an active user's roles in their active organisations, read in one go."""

from __future__ import annotations

import dataclasses

import pytest

from core.errors import Unauthenticated
from core.security.principal import load_principal
from db.models import Organization, Role
from tests.support.factories import add_member, make_org, make_user
from tests.support.queries import recording_queries

pytestmark = pytest.mark.sqlite


async def test_roles_of_active_organisations_only(db: str) -> None:
    first, second, retired = await make_org(), await make_org(), await make_org()
    user = await add_member(first, Role.WRITER)
    await add_member(second, Role.ADMIN, user)
    await add_member(retired, Role.ADMIN, user)
    await Organization.filter(id=retired.id).update(is_active=False)
    principal = await load_principal(user.id, session_id="family")
    assert (principal.user_id, principal.session_id) == (user.id, "family")
    assert dict(principal.roles) == {first.id: Role.WRITER, second.id: Role.ADMIN}
    assert principal.organization_ids == [first.id, second.id]
    assert principal.role_in(retired.id) is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        principal.session_id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        principal.roles[retired.id] = Role.ADMIN  # type: ignore[index]


async def test_a_loaded_user_costs_one_query(db: str) -> None:
    user = await add_member(await make_org(), Role.VIEWER)
    with recording_queries() as log:
        await load_principal(user)
    assert log.count == 1


async def test_inactive_or_unknown_users_never_become_principals(db: str) -> None:
    inactive = await make_user(active=False)
    with pytest.raises(Unauthenticated) as refused:
        await load_principal(inactive.id)
    assert refused.value.code == "user_inactive"
    with pytest.raises(Unauthenticated) as unknown:
        await load_principal(inactive.id + 1000)
    assert unknown.value.code == "invalid_token"
