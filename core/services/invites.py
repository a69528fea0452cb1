"""Invitation links: an admin makes a single-use, expiring token for one organisation and role.

The token travels as a Telegram deep link (``t.me/<bot>?start=<token>``), whose parameter allows
64 characters of ``A-Z a-z 0-9 _ -``: 32 URL-safe characters from ``secrets`` (192 bits) fit.
Only its SHA-256 is stored, so a leaked database lets nobody join. Redeeming locks the row,
so two people pressing the same link at once produce one membership and one refusal.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from core.clock import Clock
from core.errors import Conflict, NotFound, Unauthenticated
from core.security.principal import Principal
from core.security.principal_cache import PrincipalCache
from core.services.audit import AuditService
from core.services.permissions import Action, authorize
from db.models import InviteLink, Membership, Organization, Role, User

TOKEN_BYTES = 24  # 32 characters of base64url
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")


@dataclass(frozen=True)
class IssuedInvite:
    """A new link: the token is shown once, to the admin who made it."""

    token: str
    organization_id: int
    role: Role
    expires_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def looks_like_token(text: str) -> bool:
    """Whether a ``/start`` parameter has the shape of an invitation token."""
    return bool(_TOKEN_SHAPE.fullmatch(text))


class InviteService:
    """Creates and redeems invitation links under the member-management rules."""

    def __init__(
        self,
        *,
        clock: Clock,
        audit: AuditService,
        ttl: timedelta,
        principals: PrincipalCache | None = None,
    ) -> None:
        self._clock = clock
        self._audit = audit
        self._ttl = ttl
        # A redeemed link adds a membership: its user's principal changes (after the commit).
        self._principals = principals or PrincipalCache.disabled()

    async def create(self, *, actor: Principal, organization_id: int, role: Role) -> IssuedInvite:
        """A fresh link for ``role`` in the organisation; only its admins may make one."""
        role = Role(role)
        authorize(actor, organization_id, Action.MANAGE_MEMBERS)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._clock.now()
        async with in_transaction() as conn:
            link = await InviteLink.create(
                organization_id=organization_id,
                role=role,
                token_hash=token_hash(token),
                created_by_id=actor.user_id,
                created_at=now,
                expires_at=now + self._ttl,
                using_db=conn,
            )
            await self._audit.record(
                connection=conn,
                organization_id=organization_id,
                actor_id=actor.user_id,
                action="invite_link_created",
                target_type="invite_link",
                target_id=link.id,
                changes={"role": role.value},
            )
        return IssuedInvite(token, organization_id, role, link.expires_at)

    async def redeem(self, *, user: User, token: str) -> Membership:
        """Add ``user`` to the link's organisation with its role, and spend the link.

        An unknown or malformed token is ``NotFound("invite_invalid")``; a spent one
        ``Conflict("invite_used")``; an expired one ``Conflict("invite_expired")``. A person who
        is already a member gets ``Conflict("already_member")`` and the link stays unspent, so
        it still works for whoever it was meant for.
        """
        if not looks_like_token(token):
            raise NotFound("invite_invalid")
        if not user.is_active:
            raise Unauthenticated("user_inactive")
        async with in_transaction() as conn:
            link = (
                await InviteLink.filter(token_hash=token_hash(token))
                .select_for_update()
                .using_db(conn)
                .get_or_none()
            )
            if link is None:
                raise NotFound("invite_invalid")
            if link.used_at is not None:
                raise Conflict("invite_used")
            if link.expires_at <= self._clock.now():
                raise Conflict("invite_expired")
            organization = await Organization.get_or_none(
                id=link.organization_id, is_active=True, using_db=conn
            )
            if organization is None:
                raise NotFound("invite_invalid")
            if (
                await Membership.filter(user_id=user.id, organization_id=organization.id)
                .using_db(conn)
                .exists()
            ):
                raise Conflict("already_member")
            membership = await Membership.create(
                user_id=user.id, organization_id=organization.id, role=link.role, using_db=conn
            )
            now = self._clock.now()
            await (
                InviteLink.filter(id=link.id).using_db(conn).update(used_at=now, used_by_id=user.id)
            )
            await self._audit.record(
                connection=conn,
                organization_id=organization.id,
                actor_id=user.id,
                action="member_joined_by_link",
                target_type="user",
                target_id=user.id,
                changes={"role": Role(link.role).value, "invite_link": link.id},
            )
        await self._principals.changed(user.id)
        membership.organization = organization
        return membership
