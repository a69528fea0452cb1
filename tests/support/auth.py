"""Signed-in requests for tests: a real access token issued by the auth service."""

from __future__ import annotations

from core.container import Services
from db.models import User


async def auth_headers(services: Services, user: User) -> dict[str, str]:
    """``{"Authorization": "Bearer <access>"}`` for ``user`` (a new session of theirs)."""
    tokens = await services.auth.issue_tokens(user)
    return {"Authorization": f"Bearer {tokens.access}"}
