"""JWT sessions: what is refused, and how refresh families rotate and die."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta

import jwt
import pytest
from pydantic import SecretStr

from core.clock import FrozenClock
from core.container import Services, build_services
from core.errors import Unauthenticated
from core.security.tokens import AUDIENCE, ISSUER, TokenManager
from core.settings import Settings
from db.models import RefreshToken, User
from tests.support.factories import make_user, principal_for

pytestmark = pytest.mark.sqlite

KEY = b"a-test-signing-key-of-more-than-thirty-two-bytes"
# The frozen clock is not the wall clock PyJWT would check times against.
LAX = {"verify_exp": False, "verify_iat": False}


@pytest.fixture
def tokens(clock: FrozenClock) -> TokenManager:
    return TokenManager(
        key=KEY, clock=clock, access_ttl=timedelta(minutes=15), refresh_ttl=timedelta(days=7)
    )


def claims(clock: FrozenClock, **overrides: object) -> dict[str, object]:
    now = int(clock.now().timestamp())
    base = {
        "sub": "1",
        "iat": now,
        "exp": now + 900,
        "jti": "j1",
        "type": "access",
        "fam": "f1",
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    return {**base, **overrides}


def b64(data: dict[str, object]) -> str:
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def refused(tokens: TokenManager, token: object, expected_type: str = "access") -> str:
    with pytest.raises(Unauthenticated) as caught:
        tokens.decode(token, expected_type=expected_type)
    return caught.value.code


def test_a_token_of_ours_decodes(tokens: TokenManager, clock: FrozenClock) -> None:
    token = jwt.encode(claims(clock), KEY, algorithm="HS256")
    decoded = tokens.decode(token, expected_type="access")
    assert (decoded.user_id, decoded.jti, decoded.family_id) == (1, "j1", "f1")


async def test_issued_tokens_carry_the_required_claims(db: str, tokens: TokenManager) -> None:
    user = await make_user()
    pair = await tokens.issue(user.id)
    for token, kind in ((pair.access, "access"), (pair.refresh, "refresh")):
        payload = jwt.decode(token, KEY, algorithms=["HS256"], audience=AUDIENCE, options=LAX)
        assert {"sub", "exp", "iat", "jti", "type"} <= payload.keys()
        assert payload["type"] == kind and payload["sub"] == str(user.id)
    access = jwt.decode(pair.access, KEY, algorithms=["HS256"], audience=AUDIENCE, options=LAX)
    assert access["exp"] - access["iat"] == 15 * 60
    assert jwt.get_unverified_header(pair.access)["alg"] == "HS256"


def test_expired_token_is_refused(tokens: TokenManager, clock: FrozenClock) -> None:
    token = jwt.encode(claims(clock), KEY, algorithm="HS256")
    clock.advance(seconds=900)
    assert refused(tokens, token) == "token_expired"


def test_wrong_signature_is_refused(tokens: TokenManager, clock: FrozenClock) -> None:
    other = b"another-signing-key-of-more-than-thirty-two-bytes"
    assert refused(tokens, jwt.encode(claims(clock), other, algorithm="HS256")) == "invalid_token"


def test_alg_none_is_refused(tokens: TokenManager, clock: FrozenClock) -> None:
    unsigned = jwt.encode(claims(clock), None, algorithm="none")
    assert refused(tokens, unsigned) == "invalid_token"
    handmade = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(clock))}."
    assert refused(tokens, handmade) == "invalid_token"


def test_other_algorithms_with_the_right_key_are_refused(
    tokens: TokenManager, clock: FrozenClock
) -> None:
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):  # 48 bytes is short for HS512
        hs512 = jwt.encode(claims(clock), KEY, algorithm="HS512")
    assert refused(tokens, hs512) == "invalid_token"
    # An RS256 header over an HMAC signature made with our key: the classic confusion attack.
    header_and_body = f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims(clock))}"
    hs256 = jwt.encode(claims(clock), KEY, algorithm="HS256").rsplit(".", 1)[1]
    assert refused(tokens, f"{header_and_body}.{hs256}") == "invalid_token"


def test_wrong_type_is_refused(tokens: TokenManager, clock: FrozenClock) -> None:
    refresh = jwt.encode(claims(clock, type="refresh"), KEY, algorithm="HS256")
    assert refused(tokens, refresh, "access") == "invalid_token"
    access = jwt.encode(claims(clock), KEY, algorithm="HS256")
    assert refused(tokens, access, "refresh") == "invalid_token"


@pytest.mark.parametrize(
    "overrides",
    [
        {"jti": None},
        {"fam": None},
        {"type": None},
        {"sub": "abc"},
        {"sub": "0"},
        {"sub": "99999999999"},
        {"sub": "1" * 5000},
        {"aud": "someone-else"},
        {"iss": "someone-else"},
        {"exp": "tomorrow"},
    ],
)
def test_bad_claims_are_refused(
    tokens: TokenManager, clock: FrozenClock, overrides: dict[str, object]
) -> None:
    payload = {k: v for k, v in claims(clock, **overrides).items() if v is not None}
    assert refused(tokens, jwt.encode(payload, KEY, algorithm="HS256")) == "invalid_token"


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", None, 42, "Bearer x"])
def test_garbage_is_refused(tokens: TokenManager, garbage: object) -> None:
    assert refused(tokens, garbage) == "invalid_token"


# Sessions through the service -------------------------------------------------------------


async def test_refresh_rotates_within_the_family(services: Services) -> None:
    user = await make_user()
    first = await services.auth.issue_tokens(user)
    second = await services.auth.refresh(first.refresh)
    assert second.refresh != first.refresh and second.access != first.access
    old, new = await RefreshToken.all().order_by("id")
    assert old.used_at is not None and new.used_at is None
    assert new.parent_jti == old.jti and new.family_id == old.family_id
    assert (await services.auth.authenticate(second.access)).user_id == user.id
    third = await services.auth.refresh(second.refresh)
    assert (await services.auth.authenticate(third.access)).user_id == user.id


async def test_reusing_a_rotated_token_revokes_the_whole_family(
    services: Services, clock: FrozenClock
) -> None:
    user = await make_user()
    stolen = await services.auth.issue_tokens(user)
    current = await services.auth.refresh(stolen.refresh)
    clock.advance(seconds=services.settings.refresh_reuse_grace_seconds + 1)
    with pytest.raises(Unauthenticated) as reuse:
        await services.auth.refresh(stolen.refresh)
    assert reuse.value.code == "token_revoked"
    for attempt in (
        services.auth.refresh(current.refresh),
        services.auth.authenticate(current.access),
    ):
        with pytest.raises(Unauthenticated) as caught:
            await attempt
        assert caught.value.code == "token_revoked"
    assert not await RefreshToken.filter(revoked_at=None).exists()


async def test_reuse_leaves_other_sessions_alone(services: Services, clock: FrozenClock) -> None:
    user = await make_user()
    phone_session = await services.auth.issue_tokens(user)
    laptop_session = await services.auth.issue_tokens(user)
    await services.auth.refresh(phone_session.refresh)
    clock.advance(seconds=services.settings.refresh_reuse_grace_seconds + 1)
    with pytest.raises(Unauthenticated):
        await services.auth.refresh(phone_session.refresh)
    assert (await services.auth.authenticate(laptop_session.access)).user_id == user.id
    await services.auth.refresh(laptop_session.refresh)


async def test_two_concurrent_refreshes_with_one_token_get_the_same_new_pair(
    services: Services,
) -> None:
    """Two tabs refreshing at once: one rotation, both get its pair, nobody is logged out."""
    user = await make_user()
    pair = await services.auth.issue_tokens(user)
    results = await asyncio.gather(
        services.auth.refresh(pair.refresh),
        services.auth.refresh(pair.refresh),
        services.auth.refresh(pair.refresh),
    )
    assert results[0] == results[1] == results[2]
    assert await RefreshToken.filter(used_at__isnull=False).count() == 1
    assert await RefreshToken.all().count() == 2  # the parent and one child
    assert not await RefreshToken.filter(revoked_at__isnull=False).exists()
    assert (await services.auth.authenticate(results[0].access)).user_id == user.id
    await services.auth.refresh(results[0].refresh)


async def test_reuse_within_the_grace_returns_the_same_pair_and_after_it_revokes(
    services: Services, clock: FrozenClock
) -> None:
    user = await make_user()
    pair = await services.auth.issue_tokens(user)
    first = await services.auth.refresh(pair.refresh)
    clock.advance(seconds=services.settings.refresh_reuse_grace_seconds)
    assert await services.auth.refresh(pair.refresh) == first  # the edge of the grace
    clock.advance(seconds=1)
    with pytest.raises(Unauthenticated) as reuse:
        await services.auth.refresh(pair.refresh)
    assert reuse.value.code == "token_revoked"
    with pytest.raises(Unauthenticated):
        await services.auth.authenticate(first.access)


async def test_without_a_grace_the_second_use_is_theft(
    settings: Settings, clock: FrozenClock, db: str
) -> None:
    services = build_services(
        settings.model_copy(update={"refresh_reuse_grace_seconds": 0}), clock=clock
    )
    try:
        user = await make_user()
        pair = await services.auth.issue_tokens(user)
        await services.auth.refresh(pair.refresh)
        with pytest.raises(Unauthenticated) as reuse:
            await services.auth.refresh(pair.refresh)
        assert reuse.value.code == "token_revoked"
    finally:
        await services.aclose()


async def test_a_logged_out_token_gets_nothing_even_within_the_grace(services: Services) -> None:
    user = await make_user()
    pair = await services.auth.issue_tokens(user)
    await services.auth.refresh(pair.refresh)
    await services.auth.logout(pair.refresh, actor=await principal_for(user))
    with pytest.raises(Unauthenticated) as refused:
        await services.auth.refresh(pair.refresh)
    assert refused.value.code == "token_revoked"


async def test_refresh_token_expires_after_seven_days(
    services: Services, clock: FrozenClock
) -> None:
    pair = await services.auth.issue_tokens(await make_user())
    clock.advance(days=7)
    with pytest.raises(Unauthenticated) as caught:
        await services.auth.refresh(pair.refresh)
    assert caught.value.code == "token_expired"


async def test_access_token_expires_after_fifteen_minutes(
    services: Services, clock: FrozenClock
) -> None:
    pair = await services.auth.issue_tokens(await make_user())
    clock.advance(minutes=14, seconds=59)
    await services.auth.authenticate(pair.access)
    clock.advance(seconds=1)
    with pytest.raises(Unauthenticated) as caught:
        await services.auth.authenticate(pair.access)
    assert caught.value.code == "token_expired"


async def test_access_token_cannot_refresh(services: Services) -> None:
    pair = await services.auth.issue_tokens(await make_user())
    with pytest.raises(Unauthenticated) as caught:
        await services.auth.refresh(pair.access)
    assert caught.value.code == "invalid_token"


async def test_logout_revokes_the_family(services: Services) -> None:
    user = await make_user()
    pair = await services.auth.issue_tokens(user)
    await services.auth.logout(pair.refresh, actor=await principal_for(user))
    with pytest.raises(Unauthenticated):
        await services.auth.refresh(pair.refresh)
    with pytest.raises(Unauthenticated) as caught:
        await services.auth.authenticate(pair.access)
    assert caught.value.code == "token_revoked"
    await services.auth.logout(
        pair.refresh, actor=await principal_for(user)
    )  # a second logout is harmless


async def test_logout_refuses_someone_elses_token(services: Services) -> None:
    owner, other = await make_user(), await make_user()
    pair = await services.auth.issue_tokens(owner)
    with pytest.raises(Unauthenticated):
        await services.auth.logout(pair.refresh, actor=await principal_for(other))
    assert (await services.auth.authenticate(pair.access)).user_id == owner.id


async def test_inactive_user_gets_no_tokens_and_loses_access(services: Services) -> None:
    with pytest.raises(Unauthenticated) as refused_issue:
        await services.auth.issue_tokens(await make_user(active=False))
    assert refused_issue.value.code == "user_inactive"

    user = await make_user()
    pair = await services.auth.issue_tokens(user)
    await User.filter(id=user.id).update(is_active=False)
    with pytest.raises(Unauthenticated) as refused_access:
        await services.auth.authenticate(pair.access)
    assert refused_access.value.code == "user_inactive"
    with pytest.raises(Unauthenticated):
        await services.auth.refresh(pair.refresh)
    await User.filter(id=user.id).update(is_active=True)
    with pytest.raises(Unauthenticated):  # the refresh attempt revoked the family
        await services.auth.authenticate(pair.access)


async def test_deleted_user_is_refused(services: Services) -> None:
    user = await make_user()
    pair = await services.auth.issue_tokens(user)
    await user.delete()
    with pytest.raises(Unauthenticated) as caught:
        await services.auth.authenticate(pair.access)
    assert caught.value.code == "invalid_token"


async def test_a_token_signed_with_another_deployments_key_is_refused(
    services: Services, settings, clock: FrozenClock
) -> None:
    user = await make_user()
    other = settings.model_copy(update={"secret_key": SecretStr("x" * 64)})
    foreign = build_services(other, clock=clock)
    try:
        pair = await foreign.auth.issue_tokens(user)
    finally:
        await foreign.aclose()
    with pytest.raises(Unauthenticated) as caught:
        await services.auth.authenticate(pair.access)
    assert caught.value.code == "invalid_token"
