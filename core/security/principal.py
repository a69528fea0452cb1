"""Who is calling: the one ``Principal`` every service takes as ``actor``.

Authentication builds it once per REST request (``core/api/auth.py``) and once per bot update
(``bot/turn.py``), from the user and their memberships of active organisations, so no service
queries "the actor's memberships" again: ``core/services/permissions.py`` reads the roles from
here. Only an active user becomes a principal. A principal is a snapshot of one request or
update: the next one builds a new principal (or, for a REST session, takes the one its process
kept, which ``core/security/principal_cache.py`` uses only while nothing changed it), so a role
change, a removal or a deactivation is seen there. A write that needs the membership row itself
(under a lock) still reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

from core.errors import Unauthenticated
from db.models import Membership, Role, User


class OrganizationName(NamedTuple):
    """How an organisation the principal belongs to is called, as read with its role."""

    name: str
    slug: str


@dataclass(frozen=True, slots=True)
class Principal:
    """An active user, their session (``None`` for a bot update) and their role per organisation.

    ``organizations`` names those organisations when the builder read the names in the same
    query (REST sessions and ``load_principal`` do; the bot's hot path does not): ``/api/auth/me``
    then needs no query of its own.
    """

    user: User
    session_id: str | None = None
    roles: Mapping[int, Role] = field(default_factory=lambda: MappingProxyType({}))
    organizations: Mapping[int, OrganizationName] = field(
        default_factory=lambda: MappingProxyType({})
    )

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

    @property
    def names_every_organization(self) -> bool:
        """Whether ``organizations`` holds the name of every organisation in ``roles``."""
        return self.organizations.keys() == self.roles.keys()


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
        "organization_id", "role", "organization__name", "organization__slug"
    )
    names = {org: OrganizationName(name, slug) for org, _, name, slug in rows}
    roles = ((org, role) for org, role, _, _ in rows)
    return principal_of(user, roles, session_id=session_id, organizations=names)


def principal_of(
    user: User,
    roles: Iterable[tuple[int, Role | str]],
    *,
    session_id: str | None = None,
    organizations: Mapping[int, OrganizationName] | None = None,
) -> Principal:
    """The principal of ``user`` with these (organisation, role) pairs of active organisations,
    read by the caller in its own query (with their names, if it read them);
    ``Unauthenticated`` for an inactive user."""
    if not user.is_active:
        raise Unauthenticated("user_inactive")
    by_organization = MappingProxyType({org: Role(role) for org, role in roles})
    names = MappingProxyType(dict(organizations or {}))
    return Principal(user=user, session_id=session_id, roles=by_organization, organizations=names)
