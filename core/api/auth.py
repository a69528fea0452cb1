"""The caller of a request from ``Authorization: Bearer <access JWT>``; every route uses this.

The principal (the user, the session and the roles per organisation, ``core/security/principal.py``)
is built once per request and kept on it, so a route or a helper asking again costs nothing, and
the next request builds its own (a role change is seen there).
"""

from __future__ import annotations

from aiohttp import web

from core.api.keys import PRINCIPAL_KEY, SERVICES_KEY
from core.errors import Unauthenticated
from core.security.principal import Principal

_SCHEME = "bearer"


async def current_principal(request: web.Request) -> Principal:
    """The principal of the request's access token; ``Unauthenticated`` (401) otherwise."""
    principal = request.get(PRINCIPAL_KEY)
    if principal is None:
        services = request.app[SERVICES_KEY]
        principal = await services.auth.authenticate(bearer_token(request))
        request[PRINCIPAL_KEY] = principal
    return principal


# The routes' name for it: every route starts with ``actor = await current_user(request)``.
current_user = current_principal


def bearer_token(request: web.Request) -> str:
    """The token of an ``Authorization: Bearer …`` header, or ``Unauthenticated``."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != _SCHEME or not token.strip():
        raise Unauthenticated()
    return token.strip()
