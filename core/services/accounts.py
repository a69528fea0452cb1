"""Operator actions on whole accounts: switching a user or an organisation off and on again.

An operator (the CLI, ``contexor user …`` and ``contexor org …``) rather than an organisation's
admin does these, as with ``bootstrap``: no caller principal. Going through here rather than by
hand in SQL is what makes them take effect at once:

- a deactivated user's sessions are revoked (their refresh tokens stop working) and every
  process drops their cached principal (``core/security/principal_cache.py``), so their next
  request with a live access token is refused;
- a deactivated organisation disappears from every member's principal and its content from the
  lists at the next request (its cached list totals are invalidated too); reactivating brings
  both back.
"""

from __future__ import annotations

from collections.abc import Collection

from tortoise.transactions import in_transaction

from core.clock import Clock
from core.errors import NotFound
from core.security.principal_cache import PrincipalCache
from core.services.list_totals import ListTotals
from core.validators.phone import DEFAULT_REGIONS, normalize_phone
from db.models import Organization, RefreshToken, User


class AccountService:
    """Deactivates and reactivates users and organisations, and invalidates what they change."""

    def __init__(
        self,
        *,
        clock: Clock,
        principals: PrincipalCache,
        totals: ListTotals,
        phone_regions: Collection[str] = DEFAULT_REGIONS,
    ) -> None:
        self._clock = clock
        self._principals = principals
        self._totals = totals
        self._phone_regions = phone_regions

    async def set_user_active(self, phone: str, *, active: bool) -> User:
        """Switch the user with this phone number on or off; ``NotFound`` for no such user.

        Switching off also revokes every live session of theirs.
        """
        e164 = normalize_phone(phone, regions=self._phone_regions)
        async with in_transaction() as conn:
            user = await User.filter(phone_number=e164).using_db(conn).get_or_none()
            if user is None:
                raise NotFound("user_not_found")
            if user.is_active != active:
                user.is_active = active
                await user.save(update_fields=["is_active", "updated_at"], using_db=conn)
            if not active:
                await (
                    RefreshToken.filter(user_id=user.id, revoked_at=None)
                    .using_db(conn)
                    .update(revoked_at=self._clock.now())
                )
        await self._principals.changed(user.id)
        return user

    async def set_organization_active(self, slug: str, *, active: bool) -> Organization:
        """Switch the organisation with this slug on or off; ``NotFound`` for no such one."""
        updated = await Organization.filter(slug=slug).update(is_active=active)
        organization = await Organization.get_or_none(slug=slug)
        if not updated or organization is None:
            raise NotFound("organization_not_found")
        await self._totals.changed(organization.id)
        await self._principals.changed_for_everyone()
        return organization
