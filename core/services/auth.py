"""Phone sign-in: one-time codes by SMS, then JWT sessions (docs/architecture.md §3, §4).

The one source of truth for identity: the REST sidecar and the bot's phone link both call
this service. Decisions worth knowing:

- A new code is sent first and stored after the gateway accepted it; only then are earlier
  codes voided. A failed send therefore stores nothing: the previous code stays valid, no
  cooldown starts and the daily cap is not used up.
- The resend cooldown and the daily cap are read from the stored codes (with the injected
  clock); the read-decide-send-store section runs under an exclusive claim per phone (a Redis
  lock, or an in-process set without Redis), so two concurrent requests cannot both send.
  A request that finds the claim taken is answered ``otp_cooldown`` at once.
- The daily cap counts codes sent since local midnight in ``TIMEZONE`` (a day as people see it);
  its ``Retry-After`` is the time to the next local midnight. ``OTP_DAILY_CAP`` per phone guards
  the SMS bill; ``OTP_DAILY_CAP_PER_REQUESTER`` per phone and requester (client network or
  Telegram account, see ``core/security/requester.py``) keeps one requester from using up a
  phone's cap and locking its owner out until midnight. Codes remember their requester for it.
- The request rate limit counts the requester only, never the phone: a per-phone bucket would let
  anyone lock a phone out for a minute at a time. Verifying keeps its per-phone bucket (guesses
  at one phone's code must be bounded whoever makes them).
- An attempt is counted by one conditional UPDATE before the hash is compared, and only a
  counted attempt is compared: 50 concurrent guesses compare at most ``OTP_MAX_ATTEMPTS`` times.
  On PostgreSQL a verify is two statements (``core/services/otp_sign_in.py``): find-and-count,
  then consume + create or stamp the user + store the session; a wrong code is the first alone.
  A code typed in the wrong shape (not 6 digits) is refused without using an attempt.
- A first verify of an unknown phone creates the user. An inactive user never gets tokens.
- Access tokens are checked at every request (user active, family not revoked, roles): in one
  query on PostgreSQL (``core/security/session_principal.py``), or from the process's cache of
  principals while their Redis marks are unchanged (``core/security/principal_cache.py``).
  Logout, a reused refresh token, sign-in and membership changes set those marks after they
  commit, so they take effect at the next request in every process.
- Codes are HMAC-SHA256 (microseconds, on the loop); older PBKDF2 rows still verify until they
  expire (``core/security/otp.py``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import NoReturn

from limits import RateLimitItem
from redis.asyncio import Redis
from tortoise.transactions import in_transaction

from core.clock import Clock
from core.errors import InvalidInput, RateLimited, Unauthenticated
from core.security.locks import ExclusiveClaims
from core.security.otp import OtpHasher, generate_code, new_salt, normalize_code
from core.security.principal import OrganizationName, Principal
from core.security.principal_cache import PrincipalCache
from core.security.rate_limit import RateLimiter, build_rate_limiter, parse_rate
from core.security.requester import Requester
from core.security.tokens import ACCESS, REFRESH, NewSession, TokenManager, TokenPair
from core.services.otp_sign_in import Attempt, count_attempt, sign_in
from core.settings import Settings
from core.sms.base import SmsSender
from core.validators.phone import PhoneE164, mask_phone, normalize_phone
from db.models import Language, Organization, OtpCode, OtpPurpose, Role, User

logger = logging.getLogger(__name__)

# Longer than any SMS send (SMS_TIMEOUT_SECONDS is 10 by default): a crashed holder's claim
# lapses after this instead of blocking the phone for good.
SEND_CLAIM_SECONDS = 120.0


@dataclass(frozen=True)
class CodeSent:
    """A code is on its way: it lives ``ttl`` seconds; another may be asked in ``resend_after``."""

    ttl: int
    resend_after: int


@dataclass(frozen=True)
class SignIn:
    """A verified phone: its user and a fresh session."""

    user: User
    tokens: TokenPair


@dataclass(frozen=True)
class MembershipSummary:
    """One organisation the user belongs to, and the role there."""

    organization_id: int
    organization_name: str
    organization_slug: str
    role: Role


@dataclass(frozen=True)
class Profile:
    """The signed-in user and where they are a member."""

    user: User
    memberships: list[MembershipSummary]


class AuthService:
    """Codes, sessions and the current user."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        sms: SmsSender,
        limiter: RateLimiter,
        claims: ExclusiveClaims,
        tokens: TokenManager,
        hasher: OtpHasher,
        principals: PrincipalCache | None = None,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._sms = sms
        self._limiter = limiter
        self._claims = claims
        self._tokens = tokens
        self._hasher = hasher
        self._principals = principals or PrincipalCache.disabled()
        self._request_rate = parse_rate(settings.otp_request_rate)
        self._verify_rate = parse_rate(settings.otp_verify_rate)

    # One-time codes -------------------------------------------------------------------------

    async def request_code(
        self,
        phone_raw: object,
        *,
        client_address: str | None,
        language: str,
        telegram_user_id: int | None = None,
    ) -> CodeSent:
        """Send a fresh login code to the phone; earlier codes stop working once it is sent."""
        phone = self.parse_phone(phone_raw)
        requester = Requester.of(client_address=client_address, telegram_user_id=telegram_user_id)
        await self._limit(
            self._request_rate,
            "otp_request",
            phone=None,  # see the module notes: the phone's own bucket would lock it out
            client_address=requester.network,
            telegram_user_id=telegram_user_id,
        )
        async with self._claims.hold(f"otp-send:{phone}") as held:
            if not held:  # another request for this phone is sending right now
                raise RateLimited("otp_cooldown", retry_after=self._settings.otp_resend_seconds)
            await self._check_cooldown_and_cap(phone, requester)
            code, salt = generate_code(), new_salt()
            code_hash = self._hasher.hash(code, salt, phone)
            # SmsFailed (503) propagates from here with nothing stored; see the module notes.
            await self._sms.send_otp(phone=phone, code=code, language=language)
            sent_at = self._clock.now()
            async with in_transaction():
                await OtpCode.filter(
                    phone_number=phone, purpose=OtpPurpose.LOGIN, used_at=None, voided_at=None
                ).update(voided_at=sent_at)
                await OtpCode.create(
                    phone_number=phone,
                    purpose=OtpPurpose.LOGIN,
                    code_hash=code_hash,
                    salt=salt,
                    created_at=sent_at,
                    expires_at=sent_at + timedelta(seconds=self._settings.otp_ttl_seconds),
                    client_address=(client_address or "")[:64] or None,
                    client_network=requester.network,
                    telegram_user_id=requester.telegram_user_id,
                )
        logger.info("login code sent to %s", mask_phone(phone))
        return CodeSent(
            ttl=self._settings.otp_ttl_seconds, resend_after=self._settings.otp_resend_seconds
        )

    async def verify_code(
        self,
        phone_raw: object,
        code_raw: object,
        *,
        client_address: str | None,
        language: str | None = None,
        telegram_user_id: int | None = None,
    ) -> SignIn:
        """Check a typed code; on success sign in (creating the user on a first sign-in)."""
        session = self._tokens.new_session()
        user = await self._verify(
            phone_raw,
            code_raw,
            client_address=client_address,
            language=language,
            telegram_user_id=telegram_user_id,
            session=session,
        )
        return SignIn(user=user, tokens=self._tokens.session_pair(user.id, session))

    async def verify_phone(
        self,
        phone_raw: object,
        code_raw: object,
        *,
        client_address: str | None,
        language: str | None = None,
        telegram_user_id: int | None = None,
    ) -> User:
        """Check a typed code and return the phone's active user (created on first use).

        The proof of owning a phone without a session: sign-in adds tokens on top, the Telegram
        link adds the link (``core/services/telegram.py``).
        """
        return await self._verify(
            phone_raw,
            code_raw,
            client_address=client_address,
            language=language,
            telegram_user_id=telegram_user_id,
            session=None,
        )

    async def _verify(
        self,
        phone_raw: object,
        code_raw: object,
        *,
        client_address: str | None,
        language: str | None,
        telegram_user_id: int | None,
        session: NewSession | None,
    ) -> User:
        """The verify of both: two statements on PostgreSQL (``core/services/otp_sign_in.py``)."""
        phone = self.parse_phone(phone_raw)
        await self._limit(
            self._verify_rate,
            "otp_verify",
            phone=phone,
            client_address=client_address,
            telegram_user_id=telegram_user_id,
        )
        code = normalize_code(code_raw)
        if code is None:
            raise InvalidInput("invalid_code_format")
        now = self._clock.now()
        limit = self._settings.otp_max_attempts
        attempt = await count_attempt(phone, now, limit=limit)
        if attempt is None or attempt.expires_at <= now:
            raise InvalidInput("code_expired")
        if not attempt.counted:
            await self._refuse_uncounted(attempt, now)
        if not await self._hasher.matches(code, attempt.salt, phone, attempt.code_hash):
            raise InvalidInput("invalid_code", remaining_attempts=await self._remaining(attempt))
        try:
            user = await sign_in(
                attempt.id, phone, now, language=self._language(language), session=session
            )
        except Unauthenticated:
            logger.info("sign-in refused: the user of %s is inactive", mask_phone(phone))
            raise
        await self._principals.changed(user.id)  # last_login_at, or a new user
        logger.info("user %s proved their phone", user.id)
        return user

    def parse_phone(self, raw: object) -> PhoneE164:
        """``raw`` as E.164 if it is a mobile of an accepted region (``PHONE_REGIONS``)."""
        return normalize_phone(raw, regions=self._settings.phone_regions)

    # Sessions -------------------------------------------------------------------------------

    async def issue_tokens(self, user: User) -> TokenPair:
        """A new session (family) for an active user; used by sign-in and by tests."""
        if not user.is_active:
            raise Unauthenticated("user_inactive")
        return await self._tokens.issue(user.id)

    async def refresh(self, refresh_token: object) -> TokenPair:
        """Rotate a refresh token; a reused one revokes its family (401).

        The same token again within ``REFRESH_REUSE_GRACE_SECONDS`` returns the same new pair.
        """
        rotation = await self._tokens.consume_refresh(refresh_token)
        claims = rotation.claims
        user = await User.get_or_none(id=claims.user_id)
        if user is None or not user.is_active:
            await self._tokens.revoke_family(claims.family_id, user_id=claims.user_id)
            raise Unauthenticated("user_inactive")
        return await self._tokens.issue_child(rotation)

    async def logout(self, refresh_token: object, *, actor: Principal) -> None:
        """End the session ``refresh_token`` belongs to (idempotent for its owner)."""
        claims = self._tokens.decode(refresh_token, expected_type=REFRESH)
        if claims.user_id != actor.user_id:
            raise Unauthenticated("invalid_token")
        await self._tokens.revoke_family(claims.family_id, user_id=actor.user_id)
        logger.info("user %s logged out (family %s)", actor.user_id, claims.family_id)

    async def authenticate(self, access_token: object) -> Principal:
        """The principal of the active user an access token names; ``Unauthenticated`` otherwise.

        The session is the token's refresh family; the user, the session's state and the roles
        are read once per request, in one query (``core/security/session_principal.py``), or
        taken from this process's cache while Redis vouches that nothing changed since
        (``core/security/principal_cache.py``).
        """
        claims = self._tokens.decode(access_token, expected_type=ACCESS)
        return await self._principals.principal(claims.user_id, claims.family_id)

    async def me(self, actor: Principal) -> Profile:
        """The actor with the active organisations they belong to (named by the principal when
        it read their names, as a REST session's does; else read here)."""
        if actor.names_every_organization:
            names = actor.organizations
        else:
            rows = await Organization.filter(
                id__in=actor.organization_ids, is_active=True
            ).values_list("id", "name", "slug")
            names = {org: OrganizationName(name, slug) for org, name, slug in rows}
        memberships = [
            MembershipSummary(
                organization_id=org,
                organization_name=names[org].name,
                organization_slug=names[org].slug,
                role=actor.roles[org],
            )
            for org in actor.organization_ids
            if org in names
        ]
        return Profile(user=actor.user, memberships=memberships)

    async def seconds_until_new_code(self, phone_raw: object) -> int:
        """How long until another code may be sent to the phone (0: now; the daily cap aside)."""
        phone = self.parse_phone(phone_raw)
        latest = (
            await OtpCode.filter(phone_number=phone, purpose=OtpPurpose.LOGIN)
            .order_by("-created_at", "-id")
            .first()
        )
        if latest is None:
            return 0
        ready_at = latest.created_at + timedelta(seconds=self._settings.otp_resend_seconds)
        now = self._clock.now()
        return _seconds(ready_at - now) if now < ready_at else 0

    async def aclose(self) -> None:
        """Release the rate limiter and hashing threads (the SMS sender is the container's)."""
        await self._limiter.aclose()
        self._hasher.close()

    # Internals ------------------------------------------------------------------------------

    async def _limit(
        self,
        rate: RateLimitItem,
        action: str,
        *,
        phone: PhoneE164 | None,
        client_address: str | None,
        telegram_user_id: int | None,
    ) -> None:
        # The caller's own buckets first: a caller refused there does not use up the phone's.
        keys = []
        if client_address:
            keys.append(f"{action}:address:{client_address}")
        if telegram_user_id is not None:
            keys.append(f"{action}:telegram:{telegram_user_id}")
        if phone is not None:
            keys.append(f"{action}:phone:{phone}")
        refusal = await self._limiter.hit(rate, *keys)
        if refusal is not None:
            raise RateLimited("rate_limited", retry_after=refusal.retry_after)

    async def _check_cooldown_and_cap(self, phone: PhoneE164, requester: Requester) -> None:
        now = self._clock.now()
        latest = (
            await OtpCode.filter(phone_number=phone, purpose=OtpPurpose.LOGIN)
            .order_by("-created_at", "-id")
            .first()
        )
        if latest is not None:
            ready_at = latest.created_at + timedelta(seconds=self._settings.otp_resend_seconds)
            if now < ready_at:
                raise RateLimited("otp_cooldown", retry_after=_seconds(ready_at - now))
        day_start, next_day = _local_day(now, self._settings)
        # In UTC: SQLite compares stored datetimes as text, so the bound must share their zone.
        today = OtpCode.filter(
            phone_number=phone, purpose=OtpPurpose.LOGIN, created_at__gte=day_start.astimezone(UTC)
        )
        retry_after = _seconds(next_day - now)
        # The requester's share first: a requester who used theirs learns that, not the total.
        cap = self._settings.otp_daily_cap_per_requester
        if (
            requester.network is not None
            and await today.filter(client_network=requester.network).count() >= cap
        ):
            raise RateLimited("otp_requester_daily_cap", retry_after=retry_after)
        if (
            requester.telegram_user_id is not None
            and await today.filter(telegram_user_id=requester.telegram_user_id).count() >= cap
        ):
            raise RateLimited("otp_requester_daily_cap", retry_after=retry_after)
        if await today.count() >= self._settings.otp_daily_cap:
            raise RateLimited("otp_daily_cap", retry_after=retry_after)

    async def _refuse_uncounted(self, attempt: Attempt, now: datetime) -> NoReturn:
        """Why no attempt was counted: the code ended meanwhile, or none is left."""
        current = await OtpCode.get_or_none(id=attempt.id)
        if current is None or current.used_at or current.voided_at or current.expires_at <= now:
            raise InvalidInput("code_expired")
        # Out of attempts: a new code can be asked for once the resend cooldown has passed.
        ready_at = attempt.created_at + timedelta(seconds=self._settings.otp_resend_seconds)
        raise RateLimited("too_many_attempts", retry_after=_seconds(ready_at - now))

    def _language(self, language: str | None) -> Language:
        if language in (Language.FA.value, Language.EN.value):
            return Language(language)
        return Language(self._settings.default_language)

    async def _remaining(self, attempt: Attempt) -> int:
        limit = self._settings.otp_max_attempts
        if attempt.attempts is not None:  # counted and returned by the same statement
            return max(0, limit - attempt.attempts)
        current = await OtpCode.get_or_none(id=attempt.id)
        return max(0, limit - (current.attempts if current is not None else limit))


def build_auth_service(
    settings: Settings,
    *,
    clock: Clock,
    redis: Redis | None,
    sms: SmsSender,
    principals: PrincipalCache | None = None,
) -> AuthService:
    """The service with Redis-backed limits and claims when ``redis`` is given."""
    namespace = settings.redis_key_prefix
    limiter = build_rate_limiter(settings, redis)
    key = settings.signing_key()
    return AuthService(
        settings=settings,
        clock=clock,
        sms=sms,
        limiter=limiter,
        claims=ExclusiveClaims(redis, timeout_seconds=SEND_CLAIM_SECONDS, namespace=namespace),
        tokens=TokenManager(
            key=key,
            clock=clock,
            access_ttl=timedelta(minutes=settings.access_token_minutes),
            refresh_ttl=timedelta(days=settings.refresh_token_days),
            reuse_grace=timedelta(seconds=settings.refresh_reuse_grace_seconds),
            principals=principals,
        ),
        hasher=OtpHasher(key),
        principals=principals,
    )


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def _local_day(now: datetime, settings: Settings) -> tuple[datetime, datetime]:
    """The start of today and of tomorrow in the configured time zone."""
    today = now.astimezone(settings.zone).date()
    start = datetime.combine(today, time(), tzinfo=settings.zone)
    return start, datetime.combine(today + timedelta(days=1), time(), tzinfo=settings.zone)
