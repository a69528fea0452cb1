"""Organisations and memberships: creation, invitations, roles, and the last admin."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tortoise.exceptions import IntegrityError

from core.clock import FrozenClock
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RateLimited
from core.notify import InMemoryNotifier
from core.prompt_library import builtin_prompts
from core.security.principal import Principal
from core.services.audit import AuditService
from core.services.catalog import DEFAULT_SLUG
from core.services.orgs import OrganizationService
from core.validators.phone import mask_phone
from db.models import (
    AuditLog,
    Language,
    Membership,
    Organization,
    Project,
    Prompt,
    Role,
    User,
    Workspace,
)
from tests.support.factories import (
    add_member,
    make_org,
    make_user,
    next_phone,
    org_with_roles,
    principal_for,
)
from tests.support.sessions import locking_session

pytestmark = pytest.mark.sqlite


@pytest.fixture
def notifier() -> InMemoryNotifier:
    return InMemoryNotifier()


@pytest.fixture
async def service(
    notifier: InMemoryNotifier, clock: FrozenClock
) -> AsyncIterator[OrganizationService]:
    # A rate that never refuses here: the limit has its own test.
    service = OrganizationService(
        notifier=notifier, audit=AuditService(clock=clock), organization_create_rate="1000/hour"
    )
    yield service
    await service.aclose()


async def admins_of(org: Organization) -> list[int]:
    return sorted(
        await Membership.filter(organization_id=org.id, role=Role.ADMIN).values_list(
            "user_id", flat=True
        )
    )


# -- organisations ------------------------------------------------------------------------


async def test_the_creator_becomes_admin_of_a_ready_organisation(
    db: str, service: OrganizationService
) -> None:
    user = await make_user()
    org = await service.create_organization(
        actor=await principal_for(user), name="  آژانس محتوای نوآ  "
    )
    assert (org.name, org.slug, org.language) == ("آژانس محتوای نوآ", "آژانس-محتوای-نوآ", "fa")
    assert await admins_of(org) == [user.id]
    workspace = await Workspace.get(organization_id=org.id)
    assert (workspace.slug, workspace.name) == (DEFAULT_SLUG, "فضای کار اصلی")
    assert await Project.filter(workspace_id=workspace.id, slug=DEFAULT_SLUG).count() == 1
    keys = set(await Prompt.filter(organization_id=org.id).values_list("key", flat=True))
    assert keys == {p.key for p in builtin_prompts()}
    assert await AuditLog.filter(organization_id=org.id, action="organization_created").count()


async def test_same_names_get_distinct_slugs_even_when_created_at_once(
    db: str, service: OrganizationService
) -> None:
    user = await make_user()
    first = await service.create_organization(
        actor=await principal_for(user), name="Acme", language=Language.EN
    )
    assert first.slug == "acme"
    assert (await Workspace.get(organization_id=first.id)).name == "Main workspace"
    racing = await asyncio.gather(
        *[
            service.create_organization(actor=await principal_for(user), name="ACME!")
            for _ in range(4)
        ]
    )
    assert sorted(org.slug for org in racing) == ["acme-2", "acme-3", "acme-4", "acme-5"]


async def test_organisations_are_listed_and_read_by_their_members_only(
    db: str, service: OrganizationService
) -> None:
    org, members = await org_with_roles()
    second = await make_org()
    await add_member(second, Role.VIEWER, members[Role.WRITER])
    for _ in range(3):
        await make_org()  # nobody's
    listing = await service.list_organizations(actor=await principal_for(members[Role.WRITER]))
    assert (listing.count, [o.id for o in listing.items]) == (2, [org.id, second.id])
    assert (
        await service.list_organizations(actor=await principal_for(members[Role.VIEWER]))
    ).count == 1
    outsider = await make_user()
    assert (await service.list_organizations(actor=await principal_for(outsider))).count == 0
    with pytest.raises(NotFound):
        await service.get_organization(actor=await principal_for(outsider), organization_id=org.id)
    got = await service.get_organization(
        actor=await principal_for(members[Role.VIEWER]), organization_id=org.id
    )
    assert got.id == org.id


async def test_only_admins_update_and_the_slug_stays(db: str, service: OrganizationService) -> None:
    org, members = await org_with_roles()
    for role in (Role.EDITOR, Role.WRITER, Role.VIEWER):
        with pytest.raises(PermissionDenied):
            await service.update_organization(
                actor=await principal_for(members[role]), organization_id=org.id, name="Mine"
            )
    updated = await service.update_organization(
        actor=await principal_for(members[Role.ADMIN]),
        organization_id=org.id,
        name="نام تازه",
        language=Language.EN,
    )
    assert (updated.name, updated.slug, updated.language) == ("نام تازه", org.slug, "en")
    with pytest.raises(InvalidInput, match="name_required"):
        await service.update_organization(
            actor=await principal_for(members[Role.ADMIN]), organization_id=org.id, name="   "
        )


# -- invitations --------------------------------------------------------------------------


async def test_invite_creates_the_user_from_any_phone_form_and_notifies(
    db: str, service: OrganizationService, notifier: InMemoryNotifier
) -> None:
    org, members = await org_with_roles()
    membership = await service.invite_member(
        actor=await principal_for(members[Role.ADMIN]),
        organization_id=org.id,
        phone_number="۰۹۳۵ ۱۲۳ ۴۵۶۷",
        role=Role.WRITER,
        full_name="سارا",
    )
    user = await User.get(phone_number="+989351234567")
    assert (membership.user_id, membership.role, user.full_name) == (user.id, "writer", "سارا")
    assert membership.phone_number == "+989351234567"  # the inviting admin sees it whole
    assert notifier.events == [
        ("member_invited", {"organization": org.id, "user": user.id, "role": "writer"}),
        ("membership_changed", {"organization": org.id, "user": user.id}),
    ]
    entry = await AuditLog.get(organization_id=org.id, action="member_invited")
    assert (entry.actor_id, entry.target_id) == (members[Role.ADMIN].id, user.id)


async def test_invite_reuses_an_existing_user_and_refuses_a_second_membership(
    db: str, service: OrganizationService, notifier: InMemoryNotifier
) -> None:
    org, members = await org_with_roles()
    elsewhere = await make_user(phone="+989121110000", full_name="Old name")
    await service.invite_member(
        actor=await principal_for(members[Role.ADMIN]),
        organization_id=org.id,
        phone_number="00989121110000",
        role=Role.EDITOR,
        full_name="ignored for an existing user",
    )
    assert (await User.get(id=elsewhere.id)).full_name == "Old name"
    assert await User.filter(phone_number="+989121110000").count() == 1
    with pytest.raises(Conflict) as caught:
        await service.invite_member(
            actor=await principal_for(members[Role.ADMIN]),
            organization_id=org.id,
            phone_number=members[Role.VIEWER].phone_number,
            role=Role.ADMIN,
        )
    assert caught.value.code == "already_member"
    assert (await Membership.get(user_id=members[Role.VIEWER].id)).role == Role.VIEWER
    assert [name for name, _ in notifier.events] == ["member_invited", "membership_changed"]


async def test_invite_is_for_admins_of_the_organisation(
    db: str, service: OrganizationService, notifier: InMemoryNotifier
) -> None:
    org, members = await org_with_roles()
    for role in (Role.EDITOR, Role.WRITER, Role.VIEWER):
        with pytest.raises(PermissionDenied):
            await service.invite_member(
                actor=await principal_for(members[role]),
                organization_id=org.id,
                phone_number="09351234567",
                role=Role.ADMIN,
            )
    with pytest.raises(NotFound):
        await service.invite_member(
            actor=await principal_for(await make_user()),
            organization_id=org.id,
            phone_number="09351234567",
            role=Role.ADMIN,
        )
    for bad in ("021 1234 5678", "hello", ""):
        with pytest.raises(InvalidInput):
            await service.invite_member(
                actor=await principal_for(members[Role.ADMIN]),
                organization_id=org.id,
                phone_number=bad,
                role=Role.WRITER,
            )
    with pytest.raises(ValueError, match="owner"):
        await service.invite_member(
            actor=await principal_for(members[Role.ADMIN]),
            organization_id=org.id,
            phone_number="09351234567",
            role="owner",  # type: ignore[arg-type]
        )
    assert not await User.filter(phone_number="+989351234567").exists()
    assert notifier.events == []


async def test_an_invitation_and_its_notification_commit_together(
    db: str, clock: FrozenClock
) -> None:
    class Broken(InMemoryNotifier):
        async def member_invited(self, **_: object) -> None:
            raise RuntimeError("cannot write the notification")

    service = OrganizationService(notifier=Broken(), audit=AuditService(clock=clock))
    org, members = await org_with_roles()
    with pytest.raises(RuntimeError):
        await service.invite_member(
            actor=await principal_for(members[Role.ADMIN]),
            organization_id=org.id,
            phone_number="09351234567",
            role="writer",
        )
    assert not await User.filter(phone_number="+989351234567").exists()
    assert not await AuditLog.filter(organization_id=org.id, action="member_invited").exists()


# -- roles and removal --------------------------------------------------------------------


async def test_members_are_listed_with_their_users_for_every_member(
    db: str, service: OrganizationService
) -> None:
    org, members = await org_with_roles()
    await org_with_roles()  # another tenant's members never show
    listing = await service.list_members(
        actor=await principal_for(members[Role.ADMIN]), organization_id=org.id
    )
    assert listing.count == 4
    assert {(m.user_id, m.phone_number, m.role) for m in listing.items} == {
        (user.id, user.phone_number, role) for role, user in members.items()
    }
    one = await service.get_member(
        actor=await principal_for(members[Role.WRITER]),
        organization_id=org.id,
        user_id=members[Role.EDITOR].id,
    )
    assert one.user_id == members[Role.EDITOR].id
    with pytest.raises(NotFound):
        await service.list_members(
            actor=await principal_for(await make_user()), organization_id=org.id
        )
    with pytest.raises(NotFound):
        await service.get_member(
            actor=await principal_for(members[Role.ADMIN]),
            organization_id=org.id,
            user_id=(await make_user()).id,
        )


async def test_admins_change_roles_and_remove_members(
    db: str, service: OrganizationService, notifier: InMemoryNotifier
) -> None:
    org, members = await org_with_roles()
    admin = members[Role.ADMIN]
    changed = await service.change_role(
        actor=await principal_for(admin),
        organization_id=org.id,
        user_id=members[Role.WRITER].id,
        role=Role.ADMIN,
    )
    assert changed.role == Role.ADMIN and changed.user_id == members[Role.WRITER].id
    assert await admins_of(org) == sorted([admin.id, members[Role.WRITER].id])
    await service.remove_member(
        actor=await principal_for(admin), organization_id=org.id, user_id=members[Role.VIEWER].id
    )
    assert not await Membership.filter(user_id=members[Role.VIEWER].id).exists()
    with pytest.raises(NotFound):
        await service.remove_member(
            actor=await principal_for(admin),
            organization_id=org.id,
            user_id=members[Role.VIEWER].id,
        )
    # Every role below admin (fresh members: the writer above is an admin now).
    for role in (Role.EDITOR, Role.WRITER, Role.VIEWER):
        member = await add_member(org, role)
        with pytest.raises(PermissionDenied):
            await service.change_role(
                actor=await principal_for(member),
                organization_id=org.id,
                user_id=admin.id,
                role=Role.VIEWER,
            )
        with pytest.raises(PermissionDenied):
            await service.remove_member(
                actor=await principal_for(member), organization_id=org.id, user_id=admin.id
            )
    actions = await AuditLog.filter(organization_id=org.id).values_list("action", flat=True)
    assert sorted(actions) == ["member_removed", "member_role_changed"]
    # each change tells whoever shows the person's menu, in its transaction; refusals do not
    assert notifier.events == [
        ("membership_changed", {"organization": org.id, "user": members[Role.WRITER].id}),
        ("membership_changed", {"organization": org.id, "user": members[Role.VIEWER].id}),
    ]


async def test_the_last_admin_can_be_neither_demoted_nor_removed(
    db: str, service: OrganizationService
) -> None:
    org, members = await org_with_roles()
    admin = members[Role.ADMIN]
    for call in (
        service.change_role(
            actor=await principal_for(admin),
            organization_id=org.id,
            user_id=admin.id,
            role="editor",
        ),
        service.remove_member(
            actor=await principal_for(admin), organization_id=org.id, user_id=admin.id
        ),
    ):
        with pytest.raises(Conflict) as caught:
            await call
        assert caught.value.code == "last_admin"
    assert await admins_of(org) == [admin.id]
    # With a second admin, an admin may step down.
    await service.change_role(
        actor=await principal_for(admin),
        organization_id=org.id,
        user_id=members[Role.EDITOR].id,
        role=Role.ADMIN,
    )
    await service.change_role(
        actor=await principal_for(admin), organization_id=org.id, user_id=admin.id, role="viewer"
    )
    assert await admins_of(org) == [members[Role.EDITOR].id]
    with pytest.raises(PermissionDenied):  # no longer an admin
        await service.change_role(
            actor=await principal_for(admin),
            organization_id=org.id,
            user_id=admin.id,
            role=Role.ADMIN,
        )


def _change_or_remove(service: OrganizationService, how: str):
    """``await call(actor, org, user)``: demote ``user`` to editor, or remove them."""

    async def call(actor: User | Principal, org: Organization, user: User) -> None:
        if how == "demote":
            await service.change_role(
                actor=await principal_for(actor),
                organization_id=org.id,
                user_id=user.id,
                role=Role.EDITOR,
            )
        else:
            await service.remove_member(
                actor=await principal_for(actor), organization_id=org.id, user_id=user.id
            )

    return call


# Unforced races: on SQLite (one transaction at a time) and PostgreSQL alike the loser is always
# refused as no longer an admin; "last_admin" would mean it acted on a stale admin list.
@pytest.mark.parametrize("how", ["demote", "remove"])
@pytest.mark.parametrize("attempt", range(3))
async def test_two_admins_acting_on_each_other_at_once_leave_one_admin(
    db: str, service: OrganizationService, how: str, attempt: int
) -> None:
    org = await make_org()
    first, second = await add_member(org, Role.ADMIN), await add_member(org, Role.ADMIN)
    call = _change_or_remove(service, how)
    # Both are signed in before either acts, as two requests in flight are.
    as_first, as_second = await principal_for(first), await principal_for(second)
    results = await asyncio.gather(
        call(as_first, org, second), call(as_second, org, first), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["NoneType", "PermissionDenied"], results
    assert len(await admins_of(org)) == 1


async def test_only_admins_see_members_phone_numbers_everyone_else_gets_them_masked(
    db: str, service: OrganizationService
) -> None:
    org, members = await org_with_roles()
    editor = members[Role.EDITOR]
    for role in (Role.VIEWER, Role.WRITER, Role.EDITOR):
        listing = await service.list_members(
            actor=await principal_for(members[role]), organization_id=org.id
        )
        assert {m.user_id: m.phone_number for m in listing.items} == {
            user.id: mask_phone(user.phone_number) for user in members.values()
        }
        one = await service.get_member(
            actor=await principal_for(members[role]), organization_id=org.id, user_id=editor.id
        )
        assert one.phone_number == mask_phone(editor.phone_number) != editor.phone_number
    seen = await service.get_member(
        actor=await principal_for(members[Role.ADMIN]), organization_id=org.id, user_id=editor.id
    )
    assert seen.phone_number == editor.phone_number


async def test_a_person_creates_a_bounded_number_of_organisations(
    db: str, notifier: InMemoryNotifier, clock: FrozenClock
) -> None:
    service = OrganizationService(
        notifier=notifier,
        audit=AuditService(clock=clock),
        max_organizations_per_user=2,
        organization_create_rate="1000/hour",
    )
    user, other = await make_user(), await make_user()
    results = await asyncio.gather(
        *[
            service.create_organization(actor=await principal_for(user), name=f"Org {n}")
            for n in range(4)
        ],
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, PermissionDenied)]
    assert len(refused) == 2, results
    assert {(e.code, e.params["limit"]) for e in refused} == {("organization_limit_reached", 2)}
    assert await Membership.filter(user_id=user.id).count() == 2
    assert await Prompt.filter(organization__memberships__user_id=user.id).count() == 2 * len(
        builtin_prompts()
    )
    # Being invited as an admin elsewhere does not count; another person has their own cap.
    await add_member(await make_org(), Role.ADMIN, user)
    await service.create_organization(actor=await principal_for(other), name="Theirs")
    with pytest.raises(PermissionDenied):
        await service.create_organization(actor=await principal_for(user), name="One more")
    await service.aclose()


async def test_organisation_creation_is_rate_limited_per_person(
    db: str, notifier: InMemoryNotifier, clock: FrozenClock
) -> None:
    service = OrganizationService(
        notifier=notifier, audit=AuditService(clock=clock), organization_create_rate="2/hour"
    )
    user, other = await make_user(), await make_user()
    for n in range(2):
        await service.create_organization(actor=await principal_for(user), name=f"Org {n}")
    with pytest.raises(RateLimited) as caught:
        await service.create_organization(actor=await principal_for(user), name="Third")
    assert caught.value.code == "organization_create_rate" and caught.value.retry_after > 0
    await service.create_organization(actor=await principal_for(other), name="Theirs")
    assert await Membership.filter(user_id=user.id).count() == 2
    await service.aclose()


async def test_an_invitation_failing_for_another_integrity_reason_is_not_already_member(
    db: str, service: OrganizationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, members = await org_with_roles()

    async def broken_record(*args: object, **kwargs: object) -> None:
        raise IntegrityError("audit_logs: some other constraint")

    monkeypatch.setattr(service, "_record", broken_record)
    with pytest.raises(IntegrityError):
        await service.invite_member(
            actor=await principal_for(members[Role.ADMIN]),
            organization_id=org.id,
            phone_number=next_phone(),
            role="writer",
        )
    assert await Membership.filter(organization_id=org.id).count() == len(members)
    monkeypatch.undo()
    with pytest.raises(Conflict) as caught:  # the real duplicate still is
        await service.invite_member(
            actor=await principal_for(members[Role.ADMIN]),
            organization_id=org.id,
            phone_number=members[Role.VIEWER].phone_number,
            role="writer",
        )
    assert caught.value.code == "already_member"


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["demote", "remove"])
async def test_two_admins_racing_always_leave_one_admin_and_the_loser_is_refused(
    database_url: str, service: OrganizationService, how: str
) -> None:
    """The bad interleaving, forced: both act while the admin rows are locked by a third
    session, so both pass their first check before either runs. Without the row lock both
    succeed (no admin left); without the re-check after the lock the loser gets ``last_admin``.
    """
    org = await make_org()
    first, second = await add_member(org, Role.ADMIN), await add_member(org, Role.ADMIN)
    call = _change_or_remove(service, how)
    # Both are signed in before either acts, as two requests in flight are.
    as_first, as_second = await principal_for(first), await principal_for(second)
    async with locking_session(database_url) as other:
        await other.execute(
            "SELECT id FROM memberships WHERE organization_id = $1 AND role = 'admin' "
            "ORDER BY id FOR UPDATE",
            org.id,
        )
        racers = asyncio.gather(
            call(as_first, org, second), call(as_second, org, first), return_exceptions=True
        )
        await other.wait_until_blocking(2, unless=racers)
        await other.commit()
    results = await racers
    assert sorted(type(r).__name__ for r in results) == ["NoneType", "PermissionDenied"], results
    assert len(await admins_of(org)) == 1


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["demote", "remove"])
async def test_an_admin_demoted_while_waiting_for_the_lock_is_refused(
    database_url: str, service: OrganizationService, how: str
) -> None:
    """Admin B passes the role check, then waits while another transaction demotes B; once
    it has the lock B is an editor and may not demote or remove admin C."""
    org = await make_org()
    first, second, third = [await add_member(org, Role.ADMIN) for _ in range(3)]
    async with locking_session(database_url) as other:
        await other.execute(
            "SELECT id FROM memberships WHERE organization_id = $1 AND role = 'admin' "
            "ORDER BY id FOR UPDATE",
            org.id,
        )
        await other.execute(
            "UPDATE memberships SET role = 'editor' WHERE organization_id = $1 AND user_id = $2",
            org.id,
            second.id,
        )
        attempt = asyncio.ensure_future(_change_or_remove(service, how)(second, org, third))
        await other.wait_until_blocking(1, unless=attempt)
        await other.commit()
    with pytest.raises(PermissionDenied):
        await attempt
    assert await admins_of(org) == sorted([first.id, third.id])
