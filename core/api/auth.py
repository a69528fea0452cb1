"""The caller's identity from ``Authorization: Bearer <access JWT>``; every route uses this."""

from __future__ import annotations

from aiohttp import web

from core.api.keys import SERVICES_KEY
from core.errors import Unauthenticated
from db.models import User

_SCHEME = "bearer"


async def current_user(request: web.Request) -> User:
    """The active user of the request's access token; ``Unauthenticated`` (401) otherwise."""
    return await request.app[SERVICES_KEY].auth.authenticate(bearer_token(request))


def bearer_token(request: web.Request) -> str:
    """The token of an ``Authorization: Bearer …`` header, or ``Unauthenticated``."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != _SCHEME or not token.strip():
        raise Unauthenticated()
    return token.strip()
