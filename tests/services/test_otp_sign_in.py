"""A verify's two statements on PostgreSQL do exactly what the ORM path does, in fewer round trips.

Each case is set up twice, on two phones: one goes through the SQL path, the other through the
ORM path, and the answers and the rows left behind are compared (ids, phones and the ORM's own
insert times aside).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from core.clock import FrozenClock
from core.container import Services
from core.errors import InvalidInput, RateLimited, Unauthenticated
from core.security.tokens import NewSession
from core.services import otp_sign_in
from db.models import Language, OtpCode, OtpPurpose, RefreshToken, User
from tests.support.factories import make_user
from tests.support.queries import recording_queries
from tests.support.sms import last_code, wrong_code

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 5, 1, 9, 30, 15, 123456, tzinfo=UTC)
LIMIT = 5
_phones = itertools.count(1)


def two_phones() -> tuple[str, str]:
    n = next(_phones)
    return f"+98912700{n:04d}", f"+98912800{n:04d}"


async def code_for(phone: str, **fields) -> OtpCode:
    defaults = {
        "phone_number": phone,
        "purpose": OtpPurpose.LOGIN,
        "code_hash": "hmac-sha256$abc",
        "salt": f"salt-{phone}",
        "created_at": NOW - timedelta(seconds=30),
        "expires_at": NOW + timedelta(seconds=270),
    }
    return await OtpCode.create(**(defaults | fields))


def otp_row(otp: OtpCode) -> tuple:
    return (otp.attempts, otp.used_at, otp.voided_at, otp.expires_at)


def answer(attempt: otp_sign_in.Attempt | None) -> tuple | None:
    if attempt is None:
        return None
    # The ORM path cannot return the counted value; the SQL path must return the stored one.
    return (attempt.counted, attempt.created_at, attempt.expires_at, attempt.code_hash)


@pytest.mark.parametrize(
    "case",
    ["none", "fresh", "third", "spent", "expired", "used", "voided", "newest_of_two"],
)
async def test_count_attempt_matches_the_orm_path(db: str, case: str) -> None:
    fast_phone, orm_phone = two_phones()
    for phone in (fast_phone, orm_phone):
        if case == "none":
            continue
        if case == "newest_of_two":
            await code_for(phone, created_at=NOW - timedelta(seconds=90), salt=f"old-{phone}")
        fields = {
            "fresh": {},
            "third": {"attempts": 2},
            "spent": {"attempts": LIMIT},
            "expired": {"expires_at": NOW},
            "used": {"used_at": NOW - timedelta(seconds=5)},
            "voided": {"voided_at": NOW - timedelta(seconds=5)},
            "newest_of_two": {},
        }[case]
        await code_for(phone, **fields)

    fast = await otp_sign_in.count_attempt(fast_phone, NOW, limit=LIMIT)
    orm = await otp_sign_in.count_attempt_by_orm(orm_phone, NOW, limit=LIMIT)

    assert answer(fast) == answer(orm)
    fast_rows = [otp_row(o) for o in await OtpCode.filter(phone_number=fast_phone).order_by("id")]
    orm_rows = [otp_row(o) for o in await OtpCode.filter(phone_number=orm_phone).order_by("id")]
    assert fast_rows == orm_rows
    if fast is not None:
        assert fast.salt == f"salt-{fast_phone}"
        stored = await OtpCode.get(id=fast.id)
        assert fast.attempts == (stored.attempts if fast.counted else None)
    expected = {"none": None, "used": None, "voided": None, "spent": False, "expired": False}
    assert (fast.counted if fast else None) == expected.get(case, True)


def new_session(phone: str) -> NewSession:
    return NewSession(
        family_id=f"fam-{phone}",
        jti=f"jti-{phone}",
        created_at=NOW,
        expires_at=NOW.replace(microsecond=0) + timedelta(days=30),
    )


def user_row(user: User) -> tuple:
    return (user.full_name, user.language, user.is_active, user.last_login_at)


def session_rows(rows: list[RefreshToken], phone: str) -> list[tuple]:
    times = ("created_at", "expires_at", "used_at", "revoked_at")
    return [
        (
            r.jti.removesuffix(phone),
            r.family_id.removesuffix(phone),
            r.parent_jti,
            *(getattr(r, name) for name in times),
        )
        for r in rows
    ]


async def sign_in_both(case: str, with_session: bool) -> tuple[list, list]:
    """Run ``case`` on both paths; what each returned or raised, and the rows it left."""
    outcomes: list = []
    rows: list = []
    for phone, run in zip(
        two_phones(), (otp_sign_in.sign_in, otp_sign_in.sign_in_by_orm), strict=True
    ):
        if case in ("existing", "inactive"):
            await make_user(
                phone=phone,
                active=case == "existing",
                full_name="نام",
                language=Language.EN,
                last_login_at=NOW - timedelta(days=3),
            )
        otp = await code_for(phone, used_at=NOW - timedelta(seconds=1) if case == "used" else None)
        session = new_session(phone) if with_session else None
        try:
            user = await run(otp.id, phone, NOW, language=Language.FA, session=session)
        except (InvalidInput, Unauthenticated) as error:
            outcomes.append((type(error), error.code))
        else:
            stored = await User.get(phone_number=phone)
            # The returned user is the stored row, field for field.
            fields = User._meta.fields_db_projection
            assert {f: getattr(user, f) for f in fields} == {f: getattr(stored, f) for f in fields}
            outcomes.append(user_row(user))
        users = await User.filter(phone_number=phone)
        tokens = await RefreshToken.filter(user__phone_number=phone)
        rows.append(
            (
                otp_row(await OtpCode.get(id=otp.id)),
                [user_row(u) for u in users],
                [u.updated_at - u.created_at < timedelta(seconds=1) for u in users],
                session_rows(tokens, phone),
            )
        )
    return outcomes, rows


@pytest.mark.parametrize("with_session", [True, False])
@pytest.mark.parametrize("case", ["new", "existing", "inactive", "used"])
async def test_sign_in_matches_the_orm_path(db: str, case: str, with_session: bool) -> None:
    (fast, orm), (fast_rows, orm_rows) = await sign_in_both(case, with_session)
    assert fast == orm
    assert fast_rows == orm_rows
    expected = {
        "new": (None, Language.FA, True, NOW),
        "existing": ("نام", Language.EN, True, NOW),
        "inactive": (Unauthenticated, "user_inactive"),
        "used": (InvalidInput, "code_expired"),
    }[case]
    assert fast == expected
    signed_in = case in ("new", "existing")
    assert len(fast_rows[3]) == (1 if signed_in and with_session else 0)


async def test_a_new_users_insert_times_are_the_orms(db: str) -> None:
    before = datetime.now(UTC)
    phone, _ = two_phones()
    otp = await code_for(phone)
    user = await otp_sign_in.sign_in(otp.id, phone, NOW, language=Language.FA, session=None)
    assert before <= user.created_at <= user.updated_at <= datetime.now(UTC)


# Statements per verify (counted, not timed) ------------------------------------------------------


async def test_a_successful_verify_is_two_statements(
    services: Services, settings, clock: FrozenClock
) -> None:
    """Count the attempt; consume + create or stamp the user + store the session."""
    phone = "+989121110000"
    for existing in (False, True):
        await services.auth.request_code(phone, client_address="203.0.113.9", language="fa")
        code = last_code(settings, phone)
        with recording_queries() as log:
            signed_in = await services.auth.verify_code(phone, code, client_address="203.0.113.9")
        assert log.count == 2, (existing, log.statements)
        assert (await services.auth.authenticate(signed_in.tokens.access)).user_id == (
            signed_in.user.id
        )
        clock.advance(minutes=2)  # past the resend cooldown


async def test_a_wrong_code_is_one_statement_and_tells_the_remaining_attempts(
    services: Services, settings
) -> None:
    phone = "+989121110001"
    await services.auth.request_code(phone, client_address="203.0.113.9", language="fa")
    code = last_code(settings, phone)
    with recording_queries() as log, pytest.raises(InvalidInput) as caught:
        await services.auth.verify_code(phone, wrong_code(code), client_address="203.0.113.9")
    assert log.count == 1, log.statements
    assert caught.value.params == {"remaining_attempts": LIMIT - 1}


async def test_an_exhausted_code_is_refused_after_one_more_read(
    services: Services, settings
) -> None:
    phone = "+989121110002"
    await services.auth.request_code(phone, client_address="203.0.113.9", language="fa")
    await OtpCode.filter(phone_number=phone).update(attempts=LIMIT)
    with recording_queries() as log, pytest.raises(RateLimited) as caught:
        await services.auth.verify_code(
            phone, last_code(settings, phone), client_address="203.0.113.9"
        )
    assert caught.value.code == "too_many_attempts"
    assert log.count == 2, log.statements
