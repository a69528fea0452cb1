"""JWT sessions: short access tokens, and refresh tokens stored by ``jti`` in families.

Both kinds are PyJWT HS256 tokens with ``sub``, ``exp``, ``iat``, ``jti``, ``type`` (plus
``iss``, ``aud`` and the family id ``fam``). ``algorithms`` is pinned on decode, so ``alg: none``
and every other algorithm are refused whatever the header says. Expiry is checked against the
injected clock rather than PyJWT's wall clock, so tests and the service agree on "now".

A sign-in starts a family; each refresh marks its token used with one conditional UPDATE and
issues a child in the same family. Presenting a token that was already used means it was copied
(RFC 9700 §4.14.2): the whole family is revoked. Access tokens carry their family, so logging out
also ends the access token at the next request rather than up to 15 minutes later.

Two browser tabs refreshing the same token at once are not a theft: within
``REFRESH_REUSE_GRACE_SECONDS`` of its first use, a token presented again gets the very same new
pair. That works without storing tokens because a child is a function of its parent: its ``jti``
values are an HMAC of the parent's ``jti`` and its times derive from the moment the parent was
used, so re-encoding gives identical strings. After the grace, reuse revokes the family as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from tortoise.exceptions import IntegrityError

from core.clock import Clock
from core.errors import Unauthenticated
from core.security.principal_cache import PrincipalCache
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
class Rotation:
    """A refresh token accepted for rotation, and the instant it was (first) used."""

    claims: TokenClaims
    at: datetime


@dataclass(frozen=True)
class NewSession:
    """A sign-in's refresh-token row before it is stored: its family, ``jti`` and times."""

    family_id: str
    jti: str
    created_at: datetime
    expires_at: datetime

    async def store(self, user_id: int) -> None:
        """Store the row for ``user_id`` (the statement-by-statement path; sign-in on
        PostgreSQL inserts it in its own statement, ``core/services/otp_sign_in.py``)."""
        await RefreshToken.create(
            jti=self.jti,
            family_id=self.family_id,
            user_id=user_id,
            parent_jti=None,
            created_at=self.created_at,
            expires_at=self.expires_at,
        )


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
        self,
        *,
        key: bytes,
        clock: Clock,
        access_ttl: timedelta,
        refresh_ttl: timedelta,
        reuse_grace: timedelta = timedelta(0),
        principals: PrincipalCache | None = None,
    ) -> None:
        self._key = key
        # A revoked family ends its sessions' cached principals too.
        self._principals = principals or PrincipalCache.disabled()
        self._clock = clock
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl
        self._reuse_grace = reuse_grace

    def __repr__(self) -> str:
        return "TokenManager(key=***)"

    async def issue(self, user_id: int, *, family_id: str | None = None) -> TokenPair:
        """A new session: an access and a refresh token in a new family (or ``family_id``)."""
        session = self.new_session(family_id=family_id)
        await session.store(user_id)
        return self.session_pair(user_id, session)

    def new_session(self, *, family_id: str | None = None) -> NewSession:
        """The stored half of a new session, decided before its user's id is known.

        Sign-in stores it in the same statement that creates or finds the user
        (``core/services/otp_sign_in.py``), then encodes the pair with :meth:`session_pair`.
        """
        now = self._clock.now()
        return NewSession(
            family_id=family_id or uuid.uuid4().hex,
            jti=uuid.uuid4().hex,
            created_at=now,
            expires_at=now.replace(microsecond=0) + self._refresh_ttl,
        )

    def session_pair(self, user_id: int, session: NewSession) -> TokenPair:
        """The tokens of a stored new session: its refresh token carries the stored ``jti``."""
        now = session.created_at
        access, _ = self._encode(user_id, ACCESS, session.family_id, self._access_ttl, now=now)
        refresh, _ = self._encode(
            user_id, REFRESH, session.family_id, self._refresh_ttl, now=now, jti=session.jti
        )
        return TokenPair(access=access, refresh=refresh)

    async def issue_child(self, rotation: Rotation) -> TokenPair:
        """The pair that replaces a rotated refresh token; the same pair every time it is asked.

        ``jti`` values and times derive from the parent and ``rotation.at``, so a request
        replayed within the grace re-encodes identical tokens; the stored child is created once
        (a concurrent twin's insert loses on the unique ``jti`` and is simply dropped).
        """
        parent = rotation.claims
        at = rotation.at
        access, _ = self._encode(
            parent.user_id,
            ACCESS,
            parent.family_id,
            self._access_ttl,
            now=at,
            jti=self._child_jti(parent.jti, ACCESS),
        )
        refresh, claims = self._encode(
            parent.user_id,
            REFRESH,
            parent.family_id,
            self._refresh_ttl,
            now=at,
            jti=self._child_jti(parent.jti, REFRESH),
        )
        if not await RefreshToken.filter(jti=claims.jti).exists():
            # A concurrent twin may store the same child first: its insert wins, ours is dropped.
            with contextlib.suppress(IntegrityError):
                await RefreshToken.create(
                    jti=claims.jti,
                    family_id=parent.family_id,
                    user_id=parent.user_id,
                    parent_jti=parent.jti,
                    created_at=at,
                    expires_at=claims.expires_at,
                )
        return TokenPair(access=access, refresh=refresh)

    def _child_jti(self, parent_jti: str, token_type: str) -> str:
        digest = hmac.new(self._key, f"{parent_jti}/{token_type}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

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

    async def consume_refresh(self, token: object) -> Rotation:
        """Mark a refresh token used (once); a second use revokes its family (theft).

        Within the reuse grace of its first use, a second presentation is the same rotation
        again (two tabs refreshing at once): it is accepted with the first use's instant, so
        :meth:`issue_child` hands out the same pair.
        """
        claims = self.decode(token, expected_type=REFRESH)
        now = self._clock.now()
        # One conditional UPDATE: of two concurrent refreshes with one token, one wins.
        claimed = await RefreshToken.filter(
            jti=claims.jti, used_at=None, revoked_at=None, expires_at__gt=now
        ).update(used_at=now)
        if claimed == 1:
            return Rotation(claims=claims, at=now)
        row = await RefreshToken.get_or_none(jti=claims.jti)
        if row is None:
            raise Unauthenticated("invalid_token")
        if row.used_at is not None and row.revoked_at is None:
            if self._reuse_grace and now - self._reuse_grace <= row.used_at <= now:
                return Rotation(claims=claims, at=row.used_at)
            logger.warning(
                "refresh token reused: revoking family %s of user %s", row.family_id, row.user_id
            )
            await self.revoke_family(row.family_id, user_id=row.user_id)
        if row.revoked_at is not None or row.used_at is not None:
            raise Unauthenticated("token_revoked")
        raise Unauthenticated("token_expired")

    async def revoke_family(self, family_id: str, *, user_id: int) -> None:
        """Revoke every live token of ``family_id`` (a session of ``user_id``)."""
        await RefreshToken.filter(family_id=family_id, revoked_at=None).update(
            revoked_at=self._clock.now()
        )
        await self._principals.changed(user_id)

    async def family_revoked(self, family_id: str) -> bool:
        """Whether ``family_id`` was revoked (logout, theft, deactivation)."""
        return await RefreshToken.filter(family_id=family_id, revoked_at__isnull=False).exists()

    def _encode(
        self,
        user_id: int,
        token_type: str,
        family_id: str,
        ttl: timedelta,
        *,
        now: datetime,
        jti: str | None = None,
    ) -> tuple[str, TokenClaims]:
        # Whole seconds, as in the token: a child re-encoded later has the same expiry.
        now = now.replace(microsecond=0)
        claims = TokenClaims(
            user_id=user_id,
            jti=jti or uuid.uuid4().hex,
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
