"""Organisations and their members: creation, invitations by phone, roles, removal.

Whoever creates an organisation becomes its admin, and an organisation never loses its last
admin: every role change and removal runs in a transaction that first locks the organisation's
admin memberships (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite runs one transaction at a
time anyway), so two admins demoting each other at once leave exactly one admin. Members of any
role read the organisation and its member list; only admins change them (docs/architecture.md §1),
and only admins see members' phone numbers: everyone else gets them masked (:class:`MemberView`).

Creating an organisation seeds a prompt library and a catalog, so it is bounded: a person may
have created at most ``MAX_ORGANIZATIONS_PER_USER`` active organisations (403
``organization_limit_reached``; checked again under a lock on the creator's user row, so
concurrent creations cannot pass it together), and may create them at
``ORGANIZATION_CREATE_RATE`` (429 ``organization_create_rate``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.errors import Conflict, NotFound, PermissionDenied, RateLimited
from core.notify import Notifier
from core.prompt_library import seed_prompt_library
from core.security.principal import Principal
from core.security.principal_cache import PrincipalCache
from core.security.rate_limit import RateLimiter, parse_rate
from core.services.audit import AuditService
from core.services.catalog import ensure_default_catalog
from core.services.common import (
    UNSET,
    Listing,
    Unset,
    clean_name,
    create_with_unique_slug,
    fetch_listing,
    readable_organization_ids,
)
from core.services.permissions import Action, authorize, may
from core.validators.phone import DEFAULT_REGIONS, mask_phone, normalize_phone
from db.models import AuditLog, Language, Membership, Organization, Role, User

ORGANIZATION_CREATED = "organization_created"
DEFAULT_MAX_ORGANIZATIONS_PER_USER = 5
DEFAULT_ORGANIZATION_CREATE_RATE = "3/hour"


async def provision_organization(
    organization: Organization, *, connection: BaseDBAsyncClient, creator: User | None
) -> None:
    """Give a new organisation what it needs to start: default workspace and project, and the
    built-in prompt library (idempotent; inside the caller's transaction)."""
    await ensure_default_catalog(organization, connection=connection, creator=creator)
    await seed_prompt_library(organization.id, connection=connection)


@dataclass(frozen=True, slots=True)
class MemberView:
    """A member as the actor may see them: the phone number whole for admins, else masked."""

    user_id: int
    phone_number: str
    full_name: str | None
    role: Role

    @classmethod
    def of(cls, membership: Membership, *, reveal_phone: bool) -> MemberView:
        """The view of a membership whose ``user`` is loaded."""
        user = membership.user
        phone = user.phone_number if reveal_phone else mask_phone(user.phone_number)
        return cls(
            user_id=user.id, phone_number=phone, full_name=user.full_name, role=membership.role
        )


class OrganizationService:
    """Organisations and memberships under the role matrix of docs/architecture.md §1."""

    def __init__(
        self,
        *,
        notifier: Notifier,
        audit: AuditService,
        default_language: Language = Language.FA,
        phone_regions: Collection[str] = DEFAULT_REGIONS,
        limiter: RateLimiter | None = None,
        max_organizations_per_user: int = DEFAULT_MAX_ORGANIZATIONS_PER_USER,
        organization_create_rate: str = DEFAULT_ORGANIZATION_CREATE_RATE,
        principals: PrincipalCache | None = None,
    ) -> None:
        self._notifier = notifier
        self._audit = audit
        self._default_language = Language(default_language)
        self._phone_regions = phone_regions
        self._limiter = limiter or RateLimiter.in_memory()
        self._max_organizations = max_organizations_per_user
        self._create_rate = parse_rate(organization_create_rate)  # malformed: fails at start-up
        # Every membership written here changes its user's principal (after the commit).
        self._principals = principals or PrincipalCache.disabled()

    async def aclose(self) -> None:
        """Release the rate limiter (the in-memory one's expiry task)."""
        await self._limiter.aclose()

    # -- organisations -------------------------------------------------------------------

    async def create_organization(
        self, *, actor: Principal, name: str, language: Language | None = None
    ) -> Organization:
        """A new organisation with the actor as its admin, a default workspace and project,
        and the built-in prompt library."""
        name = clean_name(name)
        language = Language(language or self._default_language)
        await self._require_room(actor, None)
        refusal = await self._limiter.hit(self._create_rate, f"organization_create:{actor.user_id}")
        if refusal is not None:
            raise RateLimited("organization_create_rate", retry_after=refusal.retry_after)

        async def taken(slug: str) -> bool:
            return await Organization.exists(slug=slug)

        async def create(slug: str) -> Organization:
            async with in_transaction() as conn:
                # The creator's row lock serialises their concurrent creations: the count is exact.
                await User.filter(id=actor.user_id).select_for_update().using_db(conn).first()
                await self._require_room(actor, conn)
                org = await Organization.create(
                    name=name, slug=slug, language=language, using_db=conn
                )
                await Membership.create(
                    user_id=actor.user_id, organization_id=org.id, role=Role.ADMIN, using_db=conn
                )
                await provision_organization(org, connection=conn, creator=actor.user)
                await self._record(conn, org.id, actor, ORGANIZATION_CREATED, "organization")
                return org

        organization = await create_with_unique_slug(name, taken=taken, create=create)
        await self._principals.changed(actor.user_id)
        return organization

    async def list_organizations(
        self, *, actor: Principal, offset: int = 0, limit: int = 20
    ) -> Listing[Organization]:
        """The active organisations the actor belongs to, and no other."""
        ids = readable_organization_ids(actor)
        query = Organization.filter(id__in=ids, is_active=True)
        return await fetch_listing(query, offset=offset, limit=limit)

    async def get_organization(self, *, actor: Principal, organization_id: int) -> Organization:
        """One organisation of the actor's; any other is ``NotFound``."""
        authorize(actor, organization_id, Action.READ_ORGANIZATION)
        return await _organization(organization_id)

    async def update_organization(
        self,
        *,
        actor: Principal,
        organization_id: int,
        name: str | Unset = UNSET,
        language: Language | Unset = UNSET,
    ) -> Organization:
        """Rename the organisation or change its language (the slug stays); admins only."""
        authorize(actor, organization_id, Action.MANAGE_ORGANIZATION)
        changes: dict[str, Any] = {}
        if name is not UNSET:
            changes["name"] = clean_name(name)
        if language is not UNSET:
            changes["language"] = Language(language)
        if changes:
            async with in_transaction() as conn:
                updated = (
                    await Organization.filter(id=organization_id, is_active=True)
                    .using_db(conn)
                    .update(**changes)
                )
                if not updated:
                    raise NotFound()
                await self._record(
                    conn,
                    organization_id,
                    actor,
                    "organization_updated",
                    "organization",
                    changes={k: str(v) for k, v in changes.items()},
                )
            if "name" in changes:  # every member's principal names the organisation
                await self._principals.changed_for_everyone()
        return await _organization(organization_id)

    # -- members -------------------------------------------------------------------------

    async def list_members(
        self, *, actor: Principal, organization_id: int, offset: int = 0, limit: int = 20
    ) -> Listing[MemberView]:
        """The organisation's members (one query for the page); phones masked unless admin."""
        own = authorize(actor, organization_id, Action.READ_ORGANIZATION)
        reveal = may(own, Action.MANAGE_MEMBERS)
        query = Membership.filter(organization_id=organization_id)
        page = await fetch_listing(query, offset=offset, limit=limit, related=("user",))
        return Listing(
            count=page.count, items=[MemberView.of(m, reveal_phone=reveal) for m in page.items]
        )

    async def get_member(
        self, *, actor: Principal, organization_id: int, user_id: int
    ) -> MemberView:
        """One member of the organisation; ``NotFound`` for a non-member; phone as in the list."""
        own = authorize(actor, organization_id, Action.READ_ORGANIZATION)
        membership = await _membership(organization_id, user_id)
        return MemberView.of(membership, reveal_phone=may(own, Action.MANAGE_MEMBERS))

    async def invite_member(
        self,
        *,
        actor: Principal,
        organization_id: int,
        phone_number: str,
        role: Role,
        language: Language | None = None,
        full_name: str | None = None,
    ) -> MemberView:
        """Give the person with this phone number ``role``, creating their user if needed.

        An existing member is ``Conflict("already_member")`` (change their role instead). The
        notifier writes the invitation's notification in the same transaction.
        """
        phone = normalize_phone(phone_number, regions=self._phone_regions)
        role = Role(role)
        authorize(actor, organization_id, Action.MANAGE_MEMBERS)
        organization = await _organization(organization_id)
        defaults: dict[str, Any] = {"language": Language(language or organization.language)}
        if full_name is not None:
            defaults["full_name"] = clean_name(full_name, field="full_name")
        try:
            async with in_transaction() as conn:
                # get_or_create is race-safe here: users.phone_number is unique.
                user, _ = await User.get_or_create(
                    phone_number=phone, defaults=defaults, using_db=conn
                )
                membership = await Membership.create(
                    user_id=user.id, organization_id=organization_id, role=role, using_db=conn
                )
                await self._record(
                    conn,
                    organization_id,
                    actor,
                    "member_invited",
                    "user",
                    target_id=user.id,
                    changes={"role": role.value},
                )
                await self._notifier.member_invited(
                    connection=conn, organization=organization, user=user, role=role
                )
                await self._notifier.membership_changed(
                    connection=conn, organization_id=organization_id, user_id=user.id
                )
        except IntegrityError:
            # Only the unique (user, organization) means "already a member"; any other
            # integrity failure is not the caller's duplicate and is never reported as one.
            if await Membership.exists(organization_id=organization_id, user__phone_number=phone):
                raise Conflict("already_member") from None
            if not await Organization.exists(id=organization_id, is_active=True):
                raise NotFound() from None  # removed meanwhile
            raise
        await self._principals.changed(user.id)
        membership.user = user
        return MemberView.of(membership, reveal_phone=True)  # the actor is an admin

    async def change_role(
        self, *, actor: Principal, organization_id: int, user_id: int, role: Role
    ) -> MemberView:
        """Give a member another role; demoting the last admin is ``Conflict("last_admin")``."""
        role = Role(role)
        authorize(actor, organization_id, Action.MANAGE_MEMBERS)
        async with in_transaction() as conn:
            admin_ids = await self._lock_admins(conn, organization_id, actor)
            membership = await _membership(organization_id, user_id, connection=conn)
            old_role = Role(membership.role)
            if old_role is role:
                return MemberView.of(membership, reveal_phone=True)  # the actor is an admin
            if old_role is Role.ADMIN and admin_ids == [user_id]:
                raise Conflict("last_admin")
            await Membership.filter(id=membership.id).using_db(conn).update(role=role)
            await self._record(
                conn,
                organization_id,
                actor,
                "member_role_changed",
                "user",
                target_id=user_id,
                changes={"role": [old_role.value, role.value]},
            )
            await self._notifier.membership_changed(
                connection=conn, organization_id=organization_id, user_id=user_id
            )
            membership.role = role
        await self._principals.changed(user_id)
        return MemberView.of(membership, reveal_phone=True)

    async def remove_member(self, *, actor: Principal, organization_id: int, user_id: int) -> None:
        """Take a member out of the organisation; the last admin cannot be removed."""
        authorize(actor, organization_id, Action.MANAGE_MEMBERS)
        async with in_transaction() as conn:
            admin_ids = await self._lock_admins(conn, organization_id, actor)
            membership = await _membership(organization_id, user_id, connection=conn)
            if membership.role == Role.ADMIN and admin_ids == [user_id]:
                raise Conflict("last_admin")
            await Membership.filter(id=membership.id).using_db(conn).delete()
            await self._record(
                conn,
                organization_id,
                actor,
                "member_removed",
                "user",
                target_id=user_id,
                changes={"role": Role(membership.role).value},
            )
            await self._notifier.membership_changed(
                connection=conn, organization_id=organization_id, user_id=user_id
            )
        await self._principals.changed(user_id)

    # -- helpers -------------------------------------------------------------------------

    async def _require_room(self, actor: Principal, conn: BaseDBAsyncClient | None) -> None:
        """403 ``organization_limit_reached`` when the actor created the most they may."""
        query = AuditLog.filter(
            action=ORGANIZATION_CREATED, actor_id=actor.user_id, organization__is_active=True
        )
        created = await (query if conn is None else query.using_db(conn)).count()
        if created >= self._max_organizations:
            raise PermissionDenied("organization_limit_reached", limit=self._max_organizations)

    async def _lock_admins(
        self, conn: BaseDBAsyncClient, organization_id: int, actor: Principal
    ) -> list[int]:
        """Lock the organisation's admin memberships (in id order, so lockers never deadlock)
        and return their user ids; the actor must still be one of them.

        A concurrent role change waits here until the first commits, then sees the admin set
        as that one left it: the check that keeps one admin is made on current rows.
        """
        admins = (
            await Membership.filter(organization_id=organization_id, role=Role.ADMIN)
            .select_for_update()
            .order_by("id")
            .using_db(conn)
        )
        admin_ids = [m.user_id for m in admins]
        if actor.user_id not in admin_ids:  # demoted while waiting for the lock
            raise PermissionDenied(action=Action.MANAGE_MEMBERS.value)
        return admin_ids

    async def _record(
        self,
        conn: BaseDBAsyncClient,
        organization_id: int,
        actor: Principal,
        action: str,
        target_type: str,
        *,
        target_id: int | None = None,
        changes: dict[str, Any] | None = None,
    ) -> None:
        await self._audit.record(
            connection=conn,
            organization_id=organization_id,
            actor_id=actor.user_id,
            action=action,
            target_type=target_type,
            target_id=organization_id if target_id is None else target_id,
            changes=changes,
        )


async def _organization(organization_id: int) -> Organization:
    organization = await Organization.get_or_none(id=organization_id, is_active=True)
    if organization is None:
        raise NotFound()
    return organization


async def _membership(
    organization_id: int, user_id: int, *, connection: BaseDBAsyncClient | None = None
) -> Membership:
    query = Membership.filter(organization_id=organization_id, user_id=user_id)
    if connection is not None:
        query = query.using_db(connection)
    membership = await query.select_related("user").get_or_none()
    if membership is None:
        raise NotFound()
    return membership
