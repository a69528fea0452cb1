"""The principal of an access token's session in one round trip (PostgreSQL).

Every authenticated request needs the user (active?), the session (its refresh family revoked?)
and the roles per active organisation. Read separately that is three statements before the
request does any work; here it is one: the user row, an ``EXISTS`` on the family's revoked
tokens and the memberships of active organisations with their names, joined (one row per
membership, or one with no membership). This reads the database every time; with Redis,
``core/security/principal_cache.py`` keeps the result per process while nothing changed it.
SQLite keeps the statement-by-statement path of ``load_principal``.
"""

from __future__ import annotations

from functools import cache

from core.errors import Unauthenticated
from core.security.principal import OrganizationName, Principal, load_principal, principal_of
from db import raw
from db.models import RefreshToken, User


@cache
def _sql() -> str:
    """Fixed text, built once: the columns come from the model, every value is a parameter."""
    columns = ", ".join(f"u.{column}" for column in raw.column_names(User))
    return f"""SELECT {columns},
    EXISTS (
        SELECT 1 FROM refresh_tokens r WHERE r.family_id = $2 AND r.revoked_at IS NOT NULL
    ) AS session_revoked,
    m.organization_id AS member_of, m.role AS member_role,
    o.name AS member_org_name, o.slug AS member_org_slug
FROM users u
LEFT JOIN (
    memberships m JOIN organizations o ON o.id = m.organization_id AND o.is_active
) ON m.user_id = u.id
WHERE u.id = $1
"""  # noqa: S608


async def session_principal(user_id: int, session_id: str) -> Principal:
    """The principal of an active user's live session; ``Unauthenticated`` otherwise.

    Refusals in the order the separate reads gave them: unknown user, inactive user, revoked
    session.
    """
    client = raw.postgres()
    if client is None:
        principal = await load_principal(user_id, session_id=session_id)
        revoked = RefreshToken.filter(family_id=session_id, revoked_at__isnull=False)
        if await revoked.exists():
            raise Unauthenticated("token_revoked")
        return principal
    rows = await client.execute_query_dict(_sql(), [user_id, session_id])
    if not rows:
        raise Unauthenticated("invalid_token")
    first = rows[0]
    if not first["is_active"]:
        raise Unauthenticated("user_inactive")
    if first["session_revoked"]:
        raise Unauthenticated("token_revoked")
    user = User._init_from_db(**{column: first[column] for column in raw.column_names(User)})
    members = [row for row in rows if row["member_of"] is not None]
    roles = ((row["member_of"], row["member_role"]) for row in members)
    names = {
        row["member_of"]: OrganizationName(row["member_org_name"], row["member_org_slug"])
        for row in members
    }
    return principal_of(user, roles, session_id=session_id, organizations=names)
