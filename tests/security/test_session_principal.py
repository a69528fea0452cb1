"""The session's principal in one query is the principal of the separate reads."""

from __future__ import annotations

import pytest

from core.errors import Unauthenticated
from core.security.principal import load_principal
from core.security.session_principal import session_principal
from db.models import Organization, RefreshToken, Role, User
from tests.support.factories import add_member, make_org, make_user

pytestmark = pytest.mark.sqlite


async def refused(user_id: int, session: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        await session_principal(user_id, session)
    return caught.value.code


async def test_the_same_user_roles_and_session_as_the_separate_reads(db: str) -> None:
    first, second, retired = await make_org(), await make_org(), await make_org()
    user = await add_member(first, Role.WRITER)
    await add_member(second, Role.ADMIN, user)
    await add_member(retired, Role.EDITOR, user)
    await Organization.filter(id=retired.id).update(is_active=False)
    principal = await session_principal(user.id, "family-1")
    expected = await load_principal(user.id, session_id="family-1")
    assert principal.roles == {first.id: Role.WRITER, second.id: Role.ADMIN}
    assert dict(principal.roles) == dict(expected.roles)
    assert principal.session_id == "family-1"
    stored = await User.get(id=user.id)
    fields = User._meta.fields_db_projection
    assert {f: getattr(principal.user, f) for f in fields} == {
        f: getattr(stored, f) for f in fields
    }
    # A user read this way is a saved row: saving it updates, never inserts.
    principal.user.full_name = "نام تازه"
    await principal.user.save(update_fields=["full_name"])
    assert (await User.get(id=user.id)).full_name == "نام تازه"
    assert await User.all().count() == 1


async def test_a_user_without_memberships_has_no_roles(db: str) -> None:
    user = await make_user()
    assert dict((await session_principal(user.id, "f")).roles) == {}


async def test_refusals_in_the_order_of_the_separate_reads(db: str) -> None:
    user = await make_user()
    await RefreshToken.create(
        jti="j1",
        family_id="gone",
        user_id=user.id,
        created_at=user.created_at,
        expires_at=user.created_at,
        revoked_at=user.created_at,
    )
    assert await refused(user.id + 1000, "f") == "invalid_token"
    assert await refused(user.id, "gone") == "token_revoked"
    await User.filter(id=user.id).update(is_active=False)
    assert await refused(user.id, "gone") == "user_inactive"
    assert await refused(user.id, "f") == "user_inactive"
