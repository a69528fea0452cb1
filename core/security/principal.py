"""Who is calling: the one ``Principal`` every service takes as ``actor``.

Authentication builds it once per REST request (``core/api/auth.py``) and once per bot update
(``bot/turn.py``), from the user and their memberships of active organisations, so no service
queries "the actor's memberships" again: ``core/services/permissions.py`` reads the roles from
here. Only an active user becomes a principal. A principal is a snapshot of one request or
update: the next one builds a new principal, so a role change, a removal or a deactivation is
seen there. A write that needs the membership row itself (under a lock) still reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from core.errors import Unauthenticated
from db.models import Membership, Role, User


@dataclass(frozen=True, slots=True)
class Principal:
    """An active user, their session (``None`` for a bot update) and their role per organisation."""

    user: User
    session_id: str | None = None
    roles: Mapping[int, Role] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def user_id(self) -> int:
        return self.user.id

    @property
    def organization_ids(self) -> list[int]:
        """The active organisations the user belongs to, in id order."""
        return sorted(self.roles)

    def role_in(self, organization_id: int) -> Role | None:
        """The user's role in an active organisation, or ``None`` when not a member of it."""
        return self.roles.get(organization_id)


async def load_principal(user: User | int, *, session_id: str | None = None) -> Principal:
    """The principal of an active user (given or by id); ``Unauthenticated`` otherwise."""
    if not isinstance(user, User):
        found = await User.get_or_none(id=user)
        if found is None:
            raise Unauthenticated("invalid_token")
        user = found
    if not user.is_active:
        raise Unauthenticated("user_inactive")
    rows = await Membership.filter(user_id=user.id, organization__is_active=True).values_list(
        "organization_id", "role"
    )
    return principal_of(user, rows, session_id=session_id)


def principal_of(
    user: User, roles: Iterable[tuple[int, Role | str]], *, session_id: str | None = None
) -> Principal:
    """The principal of ``user`` with these (organisation, role) pairs of active organisations,
    read by the caller in its own query; ``Unauthenticated`` for an inactive user."""
    if not user.is_active:
        raise Unauthenticated("user_inactive")
    by_organization = MappingProxyType({org: Role(role) for org, role in roles})
    return Principal(user=user, session_id=session_id, roles=by_organization)
