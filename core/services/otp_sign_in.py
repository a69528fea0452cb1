"""A code's verify in two statements on PostgreSQL: count the attempt, then sign in.

Through the ORM a successful verify costs six to seven round trips: read the live code, count the
attempt, consume the code, find (or create) the user, stamp ``last_login_at`` and store the
session's refresh token. On PostgreSQL it is two statements, with the same guarantees:

1. :func:`count_attempt`: the phone's live code and one conditional ``UPDATE ... RETURNING`` that
   counts the attempt only while ``attempts < OTP_MAX_ATTEMPTS`` (and the code is unused, not
   voided, unexpired). PostgreSQL re-checks that condition on the newest row version when
   concurrent guesses wait for one another, so 50 concurrent guesses still count (and compare) at
   most ``OTP_MAX_ATTEMPTS`` times. The counted value comes back, so a wrong code's remaining
   attempts need no re-read.
2. :func:`sign_in`: the code consumed by a conditional ``UPDATE`` (of two right answers exactly one
   wins), the user created or stamped by ``INSERT ... ON CONFLICT (phone_number) DO UPDATE`` only
   when the code was consumed (an inactive user is left untouched and gets nothing), and the
   session's refresh-token row inserted only for that active user: one statement, hence one
   transaction.

Every value is a parameter; the column lists come from the models, and a new user's values are the
ones ``User.create`` would insert (its defaults, through each field's ``to_db_value``).
``tests/services/test_otp_sign_in.py`` checks that both paths leave the same rows and return the
same answers. SQLite (no data-modifying ``WITH``) keeps the statement-by-statement ORM path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from tortoise.expressions import F

from core.errors import InvalidInput, Unauthenticated
from core.security.tokens import NewSession
from db import raw
from db.models import Language, OtpCode, OtpPurpose, RefreshToken, User


@dataclass(frozen=True)
class Attempt:
    """A phone's live code; ``attempts`` after this request's attempt, ``None`` if not counted.

    ``counted`` without ``attempts`` (the ORM path) means the count must be read when needed.
    """

    id: int
    salt: str
    code_hash: str
    created_at: datetime
    expires_at: datetime
    counted: bool
    attempts: int | None = None


_COUNT_SQL = """
WITH live AS (
    SELECT id, salt, code_hash, created_at, expires_at FROM otp_codes
    WHERE phone_number = $1 AND purpose = $2 AND used_at IS NULL AND voided_at IS NULL
    ORDER BY created_at DESC, id DESC
    LIMIT 1
), counted AS (
    UPDATE otp_codes o SET attempts = o.attempts + 1
    FROM live
    WHERE o.id = live.id AND o.attempts < $3 AND o.used_at IS NULL AND o.voided_at IS NULL
        AND o.expires_at > $4
    RETURNING o.id, o.attempts
)
SELECT live.id, live.salt, live.code_hash, live.created_at, live.expires_at,
    counted.attempts AS counted_attempts
FROM live LEFT JOIN counted ON counted.id = live.id
"""


async def count_attempt(phone: str, now: datetime, *, limit: int) -> Attempt | None:
    """The phone's live login code with one attempt counted if one is left; None: no code."""
    client = raw.postgres()
    if client is None:
        return await count_attempt_by_orm(phone, now, limit=limit)
    rows = await client.execute_query_dict(_COUNT_SQL, [phone, OtpPurpose.LOGIN.value, limit, now])
    if not rows:
        return None
    row = rows[0]
    counted = row["counted_attempts"]
    return Attempt(
        id=row["id"],
        salt=row["salt"],
        code_hash=row["code_hash"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        counted=counted is not None,
        attempts=counted,
    )


async def count_attempt_by_orm(phone: str, now: datetime, *, limit: int) -> Attempt | None:
    """:func:`count_attempt` statement by statement (SQLite, and the reference in tests)."""
    otp = (
        await OtpCode.filter(
            phone_number=phone, purpose=OtpPurpose.LOGIN, used_at=None, voided_at=None
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if otp is None:
        return None
    counted = 0
    if otp.expires_at > now:
        counted = await OtpCode.filter(
            id=otp.id, attempts__lt=limit, used_at=None, voided_at=None, expires_at__gt=now
        ).update(attempts=F("attempts") + 1)
    return Attempt(
        id=otp.id,
        salt=otp.salt,
        code_hash=otp.code_hash,
        created_at=otp.created_at,
        expires_at=otp.expires_at,
        counted=bool(counted),
    )


# Sign-in -----------------------------------------------------------------------------------------


def _user_inserted() -> tuple[tuple[str, str], ...]:
    """What ``User.create`` inserts: every field but the generated id, as (field, column)."""
    projection = User._meta.fields_db_projection
    return tuple(
        (name, column)
        for name, column in projection.items()
        if not User._meta.fields_map[name].generated
    )


def _cast(model: Any, name: str) -> str:
    return model._meta.fields_map[name].get_for_dialect("postgres", "SQL_TYPE")


@cache
def _sign_in_sql(with_session: bool) -> str:
    """Built once, after the ORM is set up. Each value is cast to its column's type: parameters
    in ``INSERT ... SELECT`` get no type from the target column."""
    inserted = _user_inserted()
    users = ", ".join(column for _, column in inserted)
    values = ", ".join(
        f"${n}::{_cast(User, name)}" for n, (name, _) in enumerate(inserted, start=3)
    )
    returned = ", ".join(f"users.{column}" for column in raw.column_names(User))
    first = 3 + len(inserted)
    session = ""
    if with_session:
        session = f""", session AS (
    INSERT INTO refresh_tokens (jti, family_id, user_id, created_at, expires_at)
    SELECT ${first}::{_cast(RefreshToken, "jti")}, ${first + 1}::{_cast(RefreshToken, "family_id")},
        signed.id, ${first + 2}::{_cast(RefreshToken, "created_at")},
        ${first + 3}::{_cast(RefreshToken, "expires_at")}
    FROM signed WHERE signed.is_active
    RETURNING id
)"""  # noqa: S608
    # Fixed text: the columns and casts come from the models, every value is a parameter.
    return f"""
WITH consumed AS (
    UPDATE otp_codes SET used_at = $1
    WHERE id = $2 AND used_at IS NULL AND voided_at IS NULL
    RETURNING id
), signed AS (
    INSERT INTO users ({users})
    SELECT {values} FROM consumed
    ON CONFLICT (phone_number) DO UPDATE SET last_login_at = EXCLUDED.last_login_at
    WHERE users.is_active
    RETURNING {returned}
){session}
SELECT (SELECT count(*) FROM consumed) AS consumed, signed.*
FROM (SELECT 1) AS one LEFT JOIN signed ON TRUE
"""  # noqa: S608


async def sign_in(
    otp_id: int, phone: str, now: datetime, *, language: Language, session: NewSession | None
) -> User:
    """Consume the code and return the phone's active user, stamped (created on first use).

    With ``session``, its refresh-token row is stored for that user in the same statement.
    ``code_expired`` if the code was consumed or voided meanwhile; ``user_inactive`` for an
    inactive user (the code is used up all the same, as before).
    """
    client = raw.postgres()
    if client is None:
        return await sign_in_by_orm(otp_id, phone, now, language=language, session=session)
    fresh = User(phone_number=phone, language=language, last_login_at=now)
    values: list[Any] = [
        OtpCode._meta.fields_map["used_at"].to_db_value(now, None),
        otp_id,
        *(
            User._meta.fields_map[name].to_db_value(getattr(fresh, name), fresh)
            for name, _ in _user_inserted()
        ),
    ]
    if session is not None:
        values += [session.jti, session.family_id, session.created_at, session.expires_at]
    rows = await client.execute_query_dict(_sign_in_sql(session is not None), values)
    row = rows[0]
    if not row["consumed"]:
        raise InvalidInput("code_expired")
    if row["id"] is None:  # the phone's user exists and is inactive: no stamp, no session
        raise Unauthenticated("user_inactive")
    return User._init_from_db(**{column: row[column] for column in raw.column_names(User)})


async def sign_in_by_orm(
    otp_id: int, phone: str, now: datetime, *, language: Language, session: NewSession | None
) -> User:
    """:func:`sign_in` statement by statement (SQLite, and the reference in tests)."""
    consumed = await OtpCode.filter(id=otp_id, used_at=None, voided_at=None).update(used_at=now)
    if not consumed:
        raise InvalidInput("code_expired")
    user, _ = await User.get_or_create(phone_number=phone, defaults={"language": language})
    if not user.is_active:
        raise Unauthenticated("user_inactive")
    user.last_login_at = now
    await user.save(update_fields=["last_login_at"])
    if session is not None:
        await session.store(user.id)
    return user
