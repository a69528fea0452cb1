"""Invitation links: single use, expiring, stored hashed, made by admins only."""

from __future__ import annotations

import asyncio

import pytest

from core.container import Services
from core.errors import Conflict, NotFound, PermissionDenied, Unauthenticated
from core.services.invites import looks_like_token, token_hash
from db.models import AuditLog, InviteLink, Membership, Role
from tests.support.factories import make_user, org_with_roles, principal_for

pytestmark = pytest.mark.sqlite


async def test_a_link_adds_its_holder_with_its_role_once(services: Services) -> None:
    org, members = await org_with_roles()
    issued = await services.invites.create(
        actor=await principal_for(members[Role.ADMIN]), organization_id=org.id, role=Role.EDITOR
    )
    assert looks_like_token(issued.token)
    stored = await InviteLink.get(organization_id=org.id)
    assert stored.token_hash == token_hash(issued.token) != issued.token
    newcomer = await make_user()
    membership = await services.invites.redeem(user=newcomer, token=issued.token)
    assert (membership.organization_id, membership.role) == (org.id, Role.EDITOR)
    await stored.refresh_from_db()
    assert stored.used_by_id == newcomer.id and stored.used_at is not None
    assert await AuditLog.filter(action="member_joined_by_link", target_id=newcomer.id).exists()
    with pytest.raises(Conflict) as used:
        await services.invites.redeem(user=await make_user(), token=issued.token)
    assert used.value.code == "invite_used"


@pytest.mark.parametrize("role", [Role.EDITOR, Role.WRITER, Role.VIEWER])
async def test_only_admins_make_links(services: Services, role: Role) -> None:
    org, members = await org_with_roles()
    with pytest.raises(PermissionDenied):
        await services.invites.create(
            actor=await principal_for(members[role]), organization_id=org.id, role=Role.ADMIN
        )
    with pytest.raises(NotFound):  # an admin elsewhere is a stranger here
        _, others = await org_with_roles()
        await services.invites.create(
            actor=await principal_for(others[Role.ADMIN]), organization_id=org.id, role=Role.WRITER
        )
    assert not await InviteLink.exists()


async def test_an_expired_link_is_refused(services: Services) -> None:
    org, members = await org_with_roles()
    issued = await services.invites.create(
        actor=await principal_for(members[Role.ADMIN]), organization_id=org.id, role=Role.WRITER
    )
    services.clock.advance(hours=services.settings.invite_link_ttl_hours, seconds=1)
    with pytest.raises(Conflict) as expired:
        await services.invites.redeem(user=await make_user(), token=issued.token)
    assert expired.value.code == "invite_expired"


async def test_a_member_already_in_leaves_the_link_unspent(services: Services) -> None:
    org, members = await org_with_roles()
    issued = await services.invites.create(
        actor=await principal_for(members[Role.ADMIN]), organization_id=org.id, role=Role.ADMIN
    )
    with pytest.raises(Conflict) as already:
        await services.invites.redeem(user=members[Role.VIEWER], token=issued.token)
    assert already.value.code == "already_member"
    assert (await Membership.get(user=members[Role.VIEWER], organization=org)).role is Role.VIEWER
    newcomer = await make_user()
    assert (await services.invites.redeem(user=newcomer, token=issued.token)).role is Role.ADMIN


@pytest.mark.parametrize("token", ["", "short", "x" * 32 + "!", "A" * 32, "a/" * 16])
async def test_unknown_or_malformed_tokens_are_invalid(services: Services, token: str) -> None:
    with pytest.raises(NotFound) as invalid:
        await services.invites.redeem(user=await make_user(), token=token)
    assert invalid.value.code == "invite_invalid"


async def test_a_retired_organisation_or_an_inactive_user_cannot_join(services: Services) -> None:
    org, members = await org_with_roles()
    issued = await services.invites.create(
        actor=await principal_for(members[Role.ADMIN]), organization_id=org.id, role=Role.WRITER
    )
    with pytest.raises(Unauthenticated):
        await services.invites.redeem(user=await make_user(active=False), token=issued.token)
    org.is_active = False
    await org.save()
    with pytest.raises(NotFound):
        await services.invites.redeem(user=await make_user(), token=issued.token)
    assert not await InviteLink.filter(used_at__isnull=False).exists()


async def test_two_people_pressing_one_link_at_once_make_one_member(services: Services) -> None:
    org, members = await org_with_roles()
    issued = await services.invites.create(
        actor=await principal_for(members[Role.ADMIN]), organization_id=org.id, role=Role.WRITER
    )
    first, second = await make_user(), await make_user()
    results = await asyncio.gather(
        services.invites.redeem(user=first, token=issued.token),
        services.invites.redeem(user=second, token=issued.token),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and getattr(refused[0], "code", None) == "invite_used"
    joined = await Membership.filter(organization=org, user_id__in=[first.id, second.id]).count()
    assert joined == 1


async def test_tokens_are_unique_per_link(services: Services) -> None:
    org, members = await org_with_roles()
    tokens = {
        (
            await services.invites.create(
                actor=await principal_for(members[Role.ADMIN]),
                organization_id=org.id,
                role=Role.WRITER,
            )
        ).token
        for _ in range(5)
    }
    assert len(tokens) == 5
