"""JWT sessions: short access tokens, and refresh tokens stored by ``jti`` in families.

Both kinds are PyJWT HS256 tokens with ``sub``, ``exp``, ``iat``, ``jti``, ``type`` (plus
``iss``, ``aud`` and the family id ``fam``). ``algorithms`` is pinned on decode, so ``alg: none``
and every other algorithm are refused whatever the header says. Expiry is checked against the
injected clock rather than PyJWT's wall clock, so tests and the service agree on "now".

A sign-in starts a family; each refresh marks its token used with one conditional UPDATE and
issues a child in the same family. Presenting a token that was already used means it was copied
(RFC 9700 §4.14.2): the whole family is revoked. Access tokens carry their family, so logging out
also ends the access token at the next request rather than up to 15 minutes later.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from core.clock import Clock
from core.errors import Unauthenticated
from db.models import RefreshToken

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
ISSUER = "contexor"
AUDIENCE = "contexor-api"
ACCESS = "access"
REFRESH = "refresh"
MAX_USER_ID = 2**31 - 1  # the users.id column; a larger sub would fail in the database
REQUIRED_CLAIMS = ["sub", "exp", "iat", "jti", "type", "fam", "iss", "aud"]
# Expiry and issue time are checked against the injected clock below, not by PyJWT.
_DECODE_OPTIONS: Any = {
    "require": REQUIRED_CLAIMS,
    "verify_exp": False,
    "verify_iat": False,
    "verify_nbf": False,
}


@dataclass(frozen=True)
class TokenPair:
    """What a sign-in or a refresh hands to the client."""

    access: str
    refresh: str


@dataclass(frozen=True)
class TokenClaims:
    """The checked claims of one token."""

    user_id: int
    jti: str
    family_id: str
    type: str
    expires_at: datetime


class TokenManager:
    """Issues, checks, rotates and revokes tokens; the only holder of the signing key."""

    def __init__(
        self, *, key: bytes, clock: Clock, access_ttl: timedelta, refresh_ttl: timedelta
    ) -> None:
        self._key = key
        self._clock = clock
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl

    def __repr__(self) -> str:
        return "TokenManager(key=***)"

    async def issue(
        self, user_id: int, *, family_id: str | None = None, parent_jti: str | None = None
    ) -> TokenPair:
        """A new access and refresh token; the refresh token is stored in ``family_id``."""
        family_id = family_id or uuid.uuid4().hex
        access, _ = self._encode(user_id, ACCESS, family_id, self._access_ttl)
        refresh, claims = self._encode(user_id, REFRESH, family_id, self._refresh_ttl)
        await RefreshToken.create(
            jti=claims.jti,
            family_id=family_id,
            user_id=user_id,
            parent_jti=parent_jti,
            created_at=self._clock.now(),
            expires_at=claims.expires_at,
        )
        return TokenPair(access=access, refresh=refresh)

    def decode(self, token: object, *, expected_type: str) -> TokenClaims:
        """The claims of a valid, unexpired token of ``expected_type``; else ``Unauthenticated``."""
        if not isinstance(token, str) or not token:
            raise Unauthenticated("invalid_token")
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options=_DECODE_OPTIONS,
            )
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("invalid_token") from exc
        claims = _claims(payload)
        if claims.type != expected_type:
            raise Unauthenticated("invalid_token")
        if claims.expires_at <= self._clock.now():
            raise Unauthenticated("token_expired")
        return claims

    async def consume_refresh(self, token: object) -> TokenClaims:
        """Mark a refresh token used (once); a second use revokes its family (theft)."""
        claims = self.decode(token, expected_type=REFRESH)
        now = self._clock.now()
        # One conditional UPDATE: of two concurrent refreshes with one token, one wins.
        claimed = await RefreshToken.filter(
            jti=claims.jti, used_at=None, revoked_at=None, expires_at__gt=now
        ).update(used_at=now)
        if claimed == 1:
            return claims
        row = await RefreshToken.get_or_none(jti=claims.jti)
        if row is None:
            raise Unauthenticated("invalid_token")
        if row.used_at is not None and row.revoked_at is None:
            logger.warning(
                "refresh token reused: revoking family %s of user %s", row.family_id, row.user_id
            )
            await self.revoke_family(row.family_id)
        if row.revoked_at is not None or row.used_at is not None:
            raise Unauthenticated("token_revoked")
        raise Unauthenticated("token_expired")

    async def revoke_family(self, family_id: str) -> None:
        """Revoke every live token of ``family_id``."""
        await RefreshToken.filter(family_id=family_id, revoked_at=None).update(
            revoked_at=self._clock.now()
        )

    async def family_revoked(self, family_id: str) -> bool:
        """Whether ``family_id`` was revoked (logout, theft, deactivation)."""
        return await RefreshToken.filter(family_id=family_id, revoked_at__isnull=False).exists()

    def _encode(
        self, user_id: int, token_type: str, family_id: str, ttl: timedelta
    ) -> tuple[str, TokenClaims]:
        now = self._clock.now()
        claims = TokenClaims(
            user_id=user_id,
            jti=uuid.uuid4().hex,
            family_id=family_id,
            type=token_type,
            expires_at=now + ttl,
        )
        payload = {
            "sub": str(user_id),
            "iat": int(now.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
            "jti": claims.jti,
            "type": token_type,
            "fam": family_id,
            "iss": ISSUER,
            "aud": AUDIENCE,
        }
        return jwt.encode(payload, self._key, algorithm=ALGORITHM), claims


def _claims(payload: dict[str, Any]) -> TokenClaims:
    """Typed claims from a signature-checked payload; anything odd is an invalid token."""
    sub, exp = payload.get("sub"), payload.get("exp")
    jti, family, kind = payload.get("jti"), payload.get("fam"), payload.get("type")
    if not (isinstance(sub, str) and 0 < len(sub) <= 10 and sub.isascii() and sub.isdigit()):
        raise Unauthenticated("invalid_token")
    if not 0 < int(sub) <= MAX_USER_ID:
        raise Unauthenticated("invalid_token")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise Unauthenticated("invalid_token")
    if not all(isinstance(v, str) and v for v in (jti, family, kind)):
        raise Unauthenticated("invalid_token")
    try:
        expires_at = datetime.fromtimestamp(exp, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise Unauthenticated("invalid_token") from exc
    return TokenClaims(
        user_id=int(sub), jti=str(jti), family_id=str(family), type=str(kind), expires_at=expires_at
    )
