"""The auth service: codes, cooldown, caps, attempts, concurrency, SMS failure, sign-in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from core.clock import FrozenClock
from core.container import Services, build_services
from core.errors import InvalidInput, RateLimited, ServiceUnavailable, Unauthenticated
from core.security.otp import OtpHasher, new_salt
from core.services import auth as auth_module
from core.settings import Environment, Settings, SmsBackend
from core.sms.base import SmsFailed
from db.models import Membership, Organization, OtpCode, RefreshToken, Role, User
from tests.support.factories import add_member, make_org, make_user, principal_for
from tests.support.sms import last_code, sent_messages, wrong_code

pytestmark = pytest.mark.sqlite

PHONE = "+989121234567"
ADDRESS = "203.0.113.7"


class ScriptedSms:
    """An SMS sender that records codes and fails while ``failing`` is set."""

    def __init__(self) -> None:
        self.codes: list[tuple[str, str]] = []
        self.failing = False

    async def send_otp(self, *, phone: str, code: str, language: str) -> None:
        if self.failing:
            raise SmsFailed(reason="gateway_error")
        self.codes.append((phone, code))

    async def aclose(self) -> None:
        pass


async def request(services: Services, phone: str = PHONE, **kwargs) -> object:
    kwargs.setdefault("client_address", ADDRESS)
    kwargs.setdefault("language", "fa")
    return await services.auth.request_code(phone, **kwargs)


async def verify(services: Services, code: str, phone: str = PHONE, **kwargs):
    kwargs.setdefault("client_address", ADDRESS)
    return await services.auth.verify_code(phone, code, **kwargs)


async def refusal(awaitable, kind: type[Exception] = InvalidInput):
    with pytest.raises(kind) as caught:
        await awaitable
    return caught.value


@pytest.fixture
async def custom(settings: Settings, clock: FrozenClock, db: str, fresh_keys) -> AsyncIterator:
    """``await custom(**setting_overrides, sms=...)``: a container on varied settings."""
    built: list[Services] = []

    async def build(sms=None, **overrides) -> Services:
        services = build_services(settings.model_copy(update=overrides), clock=clock, sms=sms)
        built.append(services)
        return services

    yield build
    for services in built:
        await services.aclose()


# Issue and verify -----------------------------------------------------------------------------


async def test_a_code_is_sent_and_stored_hashed(services: Services, settings: Settings) -> None:
    sent = await request(services)
    assert (sent.ttl, sent.resend_after) == (300, 60)
    [message] = sent_messages(settings)
    assert message["to"] == PHONE and message["code"] in message["text"]
    row = await OtpCode.get(phone_number=PHONE)
    assert message["code"] not in row.code_hash and len(row.salt) == 32
    assert row.code_hash.startswith("hmac-sha256$")
    assert row.attempts == 0 and row.client_address == ADDRESS
    assert (row.expires_at - row.created_at).total_seconds() == 300


async def test_first_verify_creates_the_user_and_signs_in(
    services: Services, settings: Settings, clock: FrozenClock
) -> None:
    await request(services)
    signed_in = await verify(services, last_code(settings, PHONE), language="en")
    user = await User.get(phone_number=PHONE)
    assert signed_in.user.id == user.id and user.last_login_at == clock.now()
    assert user.language == "en"
    assert (await services.auth.authenticate(signed_in.tokens.access)).user_id == user.id


async def test_existing_user_signs_in_without_a_duplicate(
    services: Services, settings: Settings
) -> None:
    existing = await make_user(phone=PHONE)
    await request(services)
    signed_in = await verify(services, last_code(settings, PHONE))
    assert signed_in.user.id == existing.id
    assert await User.filter(phone_number=PHONE).count() == 1


async def test_typed_code_may_have_persian_digits_and_spaces(
    services: Services, settings: Settings
) -> None:
    await request(services)
    code = last_code(settings, PHONE)
    persian = " ".join(code[:3].translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))) + code[3:]
    assert (await verify(services, persian)).user.phone_number == PHONE


async def test_used_code_never_verifies_again(services: Services, settings: Settings) -> None:
    await request(services)
    code = last_code(settings, PHONE)
    await verify(services, code)
    assert (await refusal(verify(services, code))).code == "code_expired"


async def test_code_expires_after_the_ttl(
    services: Services, settings: Settings, clock: FrozenClock
) -> None:
    await request(services)
    clock.advance(seconds=299)
    code = last_code(settings, PHONE)
    clock.advance(seconds=1)
    assert (await refusal(verify(services, code))).code == "code_expired"


async def store_legacy_code(settings: Settings, clock: FrozenClock, code: str) -> None:
    """A code as the PBKDF2 scheme stored it before the HMAC one (a deploy in its lifetime)."""
    hasher = OtpHasher(settings.signing_key())
    salt = new_salt()
    try:
        code_hash = hasher.legacy_hash(code, salt)
    finally:
        hasher.close()
    await OtpCode.create(
        phone_number=PHONE,
        code_hash=code_hash,
        salt=salt,
        created_at=clock.now(),
        expires_at=clock.now() + timedelta(seconds=settings.otp_ttl_seconds),
    )


async def test_a_code_stored_with_pbkdf2_still_verifies(
    services: Services, settings: Settings, clock: FrozenClock
) -> None:
    await store_legacy_code(settings, clock, "482913")
    error = await refusal(verify(services, "482914"))
    assert (error.code, error.params["remaining_attempts"]) == ("invalid_code", 4)
    signed_in = await verify(services, "482913")
    assert signed_in.user.phone_number == PHONE


async def test_a_code_stored_with_pbkdf2_expires_as_before(
    services: Services, settings: Settings, clock: FrozenClock
) -> None:
    await store_legacy_code(settings, clock, "482913")
    clock.advance(seconds=settings.otp_ttl_seconds)
    assert (await refusal(verify(services, "482913"))).code == "code_expired"


async def test_verify_without_any_code_is_expired(services: Services) -> None:
    assert (await refusal(verify(services, "123456"))).code == "code_expired"


async def test_wrong_code_reports_remaining_attempts(
    services: Services, settings: Settings
) -> None:
    await request(services)
    error = await refusal(verify(services, wrong_code(last_code(settings, PHONE))))
    assert error.code == "invalid_code" and error.params == {"remaining_attempts": 4}


async def test_malformed_code_uses_no_attempt(services: Services, settings: Settings) -> None:
    await request(services)
    assert (await refusal(verify(services, "12ab"))).code == "invalid_code_format"
    assert (await OtpCode.get(phone_number=PHONE)).attempts == 0
    await verify(services, last_code(settings, PHONE))


async def test_new_code_voids_the_earlier_one(
    services: Services, settings: Settings, clock: FrozenClock
) -> None:
    await request(services)
    first = last_code(settings, PHONE)
    clock.advance(seconds=60)
    await request(services)
    second = last_code(settings, PHONE)
    if first != second:  # one in a million they are equal; then the check says nothing
        assert (await refusal(verify(services, first))).code == "invalid_code"
    assert (await verify(services, second)).user.phone_number == PHONE
    assert await OtpCode.filter(voided_at__isnull=False).count() == 1


async def test_inactive_user_gets_no_tokens(services: Services, settings: Settings) -> None:
    await make_user(phone=PHONE, active=False)
    await request(services)
    error = await refusal(verify(services, last_code(settings, PHONE)), Unauthenticated)
    assert error.code == "user_inactive"
    assert await RefreshToken.all().count() == 0


# Cooldown and caps ----------------------------------------------------------------------------


async def test_resend_cooldown_follows_the_clock(services: Services, clock: FrozenClock) -> None:
    await request(services)
    error = await refusal(request(services), RateLimited)
    assert error.code == "otp_cooldown" and error.retry_after == 60
    clock.advance(seconds=45)
    assert (await refusal(request(services), RateLimited)).retry_after == 15
    clock.advance(seconds=15)
    await request(services)


async def test_every_phone_form_shares_one_bucket(
    services: Services, settings: Settings, clock: FrozenClock
) -> None:
    await request(services, "09121234567")
    for form in ("+98 912 123 4567", "00989121234567", "۰۹۱۲۱۲۳۴۵۶۷", "912-123-4567"):
        assert (await refusal(request(services, form), RateLimited)).code == "otp_cooldown"
    code = last_code(settings, PHONE)
    assert (await verify(services, code, "٠٩١٢١٢٣٤٥٦٧")).user.phone_number == PHONE


async def test_request_rate_limit_has_no_per_phone_bucket(custom) -> None:
    # A per-phone bucket let anyone keep a phone's owner from asking for a code.
    services = await custom(otp_request_rate="2/minute", otp_resend_seconds=0)
    for n, form in enumerate(("09121234567", "+989121234567", "989121234567", "9121234567")):
        await request(services, form, client_address=f"198.51.100.{n}")


async def test_per_address_rate_limit_spans_phones(custom) -> None:
    services = await custom(otp_request_rate="2/minute")
    await request(services, "09121110001")
    await request(services, "09121110002")
    error = await refusal(request(services, "09121110003"), RateLimited)
    assert error.code == "rate_limited"
    await request(services, "09121110003", client_address="198.51.100.9")


async def test_per_telegram_account_rate_limit(custom) -> None:
    services = await custom(otp_request_rate="1/minute")
    await request(services, "09121110001", client_address=None, telegram_user_id=42)
    error = await refusal(
        request(services, "09121110002", client_address=None, telegram_user_id=42), RateLimited
    )
    assert error.code == "rate_limited"
    await request(services, "09121110003", client_address=None, telegram_user_id=43)


async def test_a_caller_refused_by_their_own_limit_leaves_the_phones_budget(custom) -> None:
    """The caller's address is counted before the phone: an attacker out of their own budget
    cannot use up a victim's phone bucket by asking for the victim's codes."""
    services = await custom(otp_request_rate="2/minute", otp_resend_seconds=0)
    attacker = "198.51.100.66"
    await request(services, "09121110001", client_address=attacker)
    await request(services, "09121110002", client_address=attacker)
    for _ in range(3):
        error = await refusal(request(services, PHONE, client_address=attacker), RateLimited)
        assert error.code == "rate_limited"
    # The victim, from their own addresses, still has the phone's whole budget.
    await request(services, PHONE, client_address="203.0.113.50")
    await request(services, PHONE, client_address="203.0.113.51")


async def test_a_telegram_account_refused_by_its_own_limit_leaves_the_phones_budget(
    custom, settings: Settings
) -> None:
    services = await custom(otp_verify_rate="2/minute")
    await request(services)
    code = last_code(settings, PHONE)
    for other in ("09121110001", "09121110002"):
        await refusal(verify(services, "123456", other, client_address=None, telegram_user_id=42))
    for _ in range(3):
        error = await refusal(
            verify(services, code, client_address=None, telegram_user_id=42), RateLimited
        )
        assert error.code == "rate_limited"
    await refusal(verify(services, wrong_code(code), client_address=None, telegram_user_id=7))
    signed_in = await verify(services, code, client_address=None, telegram_user_id=7)
    assert signed_in.user.phone_number == PHONE


async def test_verify_is_rate_limited_per_phone(custom, settings: Settings) -> None:
    services = await custom(otp_verify_rate="2/minute")
    await request(services)
    code = last_code(settings, PHONE)
    for address in ("198.51.100.1", "198.51.100.2"):
        await refusal(verify(services, wrong_code(code), client_address=address))
    error = await refusal(verify(services, code, client_address="198.51.100.3"), RateLimited)
    assert error.code == "rate_limited"


async def test_daily_cap_counts_codes_since_local_midnight(custom, clock: FrozenClock) -> None:
    # TIMEZONE explicitly: Tortoise.init writes TIMEZONE=UTC into os.environ, which the
    # settings fixture (built after the database) would otherwise pick up.
    services = await custom(
        timezone="Asia/Tehran",
        otp_daily_cap=3,
        otp_resend_seconds=0,
        otp_request_rate="100/minute",
    )
    for n in range(3):
        await request(services, client_address=f"198.51.100.{n}")
    error = await refusal(request(services, client_address="198.51.100.9"), RateLimited)
    # 08:00 UTC is 11:30 in Tehran: the next local midnight is 12.5 hours away.
    assert error.code == "otp_daily_cap" and error.retry_after == 12 * 3600 + 1800
    clock.advance(hours=12, minutes=29)
    await refusal(request(services, client_address="198.51.100.9"), RateLimited)
    clock.advance(minutes=1)
    await request(services, client_address="198.51.100.9")


async def test_the_daily_cap_counts_codes_sent_just_after_tehran_midnight(
    custom, clock: FrozenClock
) -> None:
    """00:05 in Tehran is 20:35 UTC the day before: codes sent then count for the new day on
    both databases (SQLite compares stored times as text, so the bound must be in UTC)."""
    services = await custom(
        timezone="Asia/Tehran",
        otp_daily_cap=2,
        otp_resend_seconds=0,
        otp_request_rate="100/minute",
    )
    clock.current = datetime(2026, 12, 2, 20, 35, tzinfo=UTC)
    for n in range(2):
        await request(services, client_address=f"198.51.100.{n}")
    clock.advance(minutes=10)
    error = await refusal(request(services, client_address="198.51.100.9"), RateLimited)
    assert error.code == "otp_daily_cap"


async def test_one_address_cannot_use_up_the_phone_cap(custom, clock: FrozenClock) -> None:
    services = await custom(
        timezone="Asia/Tehran", otp_resend_seconds=0, otp_request_rate="100/minute"
    )
    for _ in range(3):  # OTP_DAILY_CAP_PER_REQUESTER defaults to 3, OTP_DAILY_CAP to 10
        await request(services)
    error = await refusal(request(services), RateLimited)
    assert error.code == "otp_requester_daily_cap" and error.retry_after == 12 * 3600 + 1800
    # The phone's owner, from elsewhere, still gets codes, and the refusal stored nothing.
    await request(services, client_address="198.51.100.77")
    assert await OtpCode.filter(phone_number=PHONE).count() == 4
    # Another phone from the same address has its own share.
    await request(services, "09121110001")
    clock.advance(hours=12, minutes=30)
    await request(services)


async def test_an_ipv6_requester_is_its_slash_64(custom) -> None:
    services = await custom(
        otp_daily_cap_per_requester=2, otp_resend_seconds=0, otp_request_rate="100/minute"
    )
    await request(services, client_address="2001:db8:1:2::1")
    await request(services, client_address="2001:db8:1:2:ffff:ffff:ffff:ffff")
    error = await refusal(request(services, client_address="2001:db8:1:2::3"), RateLimited)
    assert error.code == "otp_requester_daily_cap"
    await request(services, client_address="2001:db8:1:3::1")  # the next /64 is someone else
    stored = (
        await OtpCode.filter(phone_number=PHONE)
        .order_by("id")
        .values_list("client_network", flat=True)
    )
    assert stored == ["2001:db8:1:2::/64", "2001:db8:1:2::/64", "2001:db8:1:3::/64"]


async def test_one_telegram_account_cannot_use_up_the_phone_cap(custom) -> None:
    services = await custom(otp_resend_seconds=0, otp_request_rate="100/minute")
    for _ in range(3):
        await request(services, client_address=None, telegram_user_id=42)
    error = await refusal(request(services, client_address=None, telegram_user_id=42), RateLimited)
    assert error.code == "otp_requester_daily_cap"
    await request(services, client_address=None, telegram_user_id=43)
    assert await OtpCode.filter(telegram_user_id=42).count() == 3


async def test_a_foreign_number_is_refused_unless_its_region_is_accepted(custom) -> None:
    sms = ScriptedSms()
    services = await custom(sms=sms)
    error = await refusal(request(services, "+1 201 555 0123"))
    assert error.code == "phone_region_not_accepted"
    assert sms.codes == [] and not await OtpCode.exists()
    error = await refusal(verify(services, "123456", "+12015550123"))
    assert error.code == "phone_region_not_accepted"
    both = await custom(sms=sms, phone_regions=frozenset({"IR", "US"}))
    await request(both, "+1 201 555 0123")
    assert sms.codes[0][0] == "+12015550123"


async def test_concurrent_requests_send_one_sms(custom, clock: FrozenClock) -> None:
    sms = ScriptedSms()
    services = await custom(sms=sms, otp_request_rate="100/minute")
    results = await asyncio.gather(*(request(services) for _ in range(10)), return_exceptions=True)
    assert len(sms.codes) == 1
    assert sum(isinstance(r, RateLimited) and r.code == "otp_cooldown" for r in results) == 9
    assert await OtpCode.all().count() == 1


async def test_concurrent_requests_send_one_sms_without_redis(custom) -> None:
    sms = ScriptedSms()
    services = await custom(sms=sms, redis_url=None, otp_request_rate="100/minute")
    assert services.redis is None
    results = await asyncio.gather(*(request(services) for _ in range(10)), return_exceptions=True)
    assert len(sms.codes) == 1
    assert sum(isinstance(r, RateLimited) for r in results) == 9


# Attempts ---------------------------------------------------------------------------------------


async def test_attempts_run_out_and_then_even_the_right_code_is_refused(
    services: Services, settings: Settings
) -> None:
    await request(services)
    code = last_code(settings, PHONE)
    remaining = []
    for _ in range(5):
        remaining.append((await refusal(verify(services, wrong_code(code)))).params)
    assert [r["remaining_attempts"] for r in remaining] == [4, 3, 2, 1, 0]
    error = await refusal(verify(services, code), RateLimited)
    assert error.code == "too_many_attempts" and error.retry_after == 60


async def test_fifty_concurrent_wrong_guesses_count_at_most_five(
    custom, settings: Settings
) -> None:
    services = await custom(otp_verify_rate="1000/minute")
    await request(services)
    code = last_code(settings, PHONE)
    results = await asyncio.gather(
        *(verify(services, wrong_code(code)) for _ in range(50)), return_exceptions=True
    )
    assert all(isinstance(r, InvalidInput | RateLimited) for r in results), results
    assert sum(isinstance(r, InvalidInput) and r.code == "invalid_code" for r in results) <= 5
    assert (await OtpCode.get(phone_number=PHONE)).attempts == 5
    assert (await refusal(verify(services, code), RateLimited)).code == "too_many_attempts"


async def test_an_attempt_is_counted_before_the_code_is_hashed(
    custom, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guesses beyond the attempt limit cost no hashing: the attempt is counted (and refused)
    first. Hashing first would let 50 concurrent guesses burn 50 x 40 ms of CPU, and would
    compare codes that can never count."""
    hashed: list[str] = []
    real_matches = OtpHasher.matches

    async def counting_matches(
        self: OtpHasher, code: str, salt: str, phone: str, expected: str
    ) -> bool:
        hashed.append(code)
        return await real_matches(self, code, salt, phone, expected)

    monkeypatch.setattr(OtpHasher, "matches", counting_matches)
    services = await custom(otp_verify_rate="1000/minute")
    await request(services)
    code = last_code(settings, PHONE)

    results = await asyncio.gather(
        *(verify(services, wrong_code(code)) for _ in range(20)), return_exceptions=True
    )
    assert sum(isinstance(r, RateLimited) for r in results) == 15, results
    assert len(hashed) == 5
    assert (await refusal(verify(services, code), RateLimited)).code == "too_many_attempts"
    assert len(hashed) == 5


async def test_two_concurrent_right_answers_sign_in_once(
    services: Services, settings: Settings
) -> None:
    await request(services)
    code = last_code(settings, PHONE)
    results = await asyncio.gather(
        verify(services, code), verify(services, code), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1 and getattr(failures[0], "code", None) == "code_expired"
    assert await User.filter(phone_number=PHONE).count() == 1


# SMS failures and secrecy ------------------------------------------------------------------------


async def test_failed_send_keeps_the_previous_code_and_sets_no_cooldown(
    custom, clock: FrozenClock
) -> None:
    sms = ScriptedSms()
    services = await custom(sms=sms)
    await request(services)
    _, first = sms.codes[-1]
    clock.advance(seconds=60)
    sms.failing = True
    error = await refusal(request(services), ServiceUnavailable)
    assert error.code == "sms_failed"
    assert await OtpCode.filter(voided_at=None).count() == 1
    assert (await verify(services, first)).user.phone_number == PHONE


async def test_failed_first_send_leaves_no_cooldown_and_no_cap_use(custom) -> None:
    sms = ScriptedSms()
    services = await custom(sms=sms, otp_daily_cap=1)
    sms.failing = True
    await refusal(request(services), ServiceUnavailable)
    sms.failing = False
    await request(services)  # neither the cooldown nor the cap of one was used up
    assert len(sms.codes) == 1


@pytest.mark.parametrize("production", [False, True])
async def test_codes_are_never_logged_by_the_service(
    custom, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, production: bool
) -> None:
    monkeypatch.setattr(auth_module, "generate_code", lambda: "493817")
    overrides: dict[str, object] = {"sms_backend": SmsBackend.CONSOLE}
    if production:
        overrides |= {"contexor_env": Environment.PRODUCTION, "secret_key": SecretStr("p" * 64)}
    services = await custom(**overrides)
    with caplog.at_level(logging.DEBUG):
        await request(services)
        await verify(services, "493817")
    assert "SMS to" in caplog.text  # the console backend did log the message
    assert ("493817" in caplog.text) is (not production)  # only the dev console shows it
    assert "493817" not in "".join(
        r.getMessage() for r in caplog.records if r.name.startswith("core.services")
    )


# The current user ---------------------------------------------------------------------------------


async def test_me_lists_active_memberships(services: Services) -> None:
    user = await make_user()
    first, second, closed = await make_org(), await make_org(), await make_org()
    await add_member(first, Role.ADMIN, user)
    await add_member(second, Role.VIEWER, user)
    await add_member(closed, Role.EDITOR, user)
    await Organization.filter(id=closed.id).update(is_active=False)
    profile = await services.auth.me(await principal_for(user))
    assert profile.user.id == user.id
    assert [(m.organization_id, m.organization_slug, m.role) for m in profile.memberships] == [
        (first.id, first.slug, Role.ADMIN),
        (second.id, second.slug, Role.VIEWER),
    ]
    assert await Membership.all().count() == 3
