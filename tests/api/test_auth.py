"""``/api/auth/*`` over HTTP: statuses, envelopes, Retry-After, and client addresses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from core.api.app import create_app
from core.clock import FrozenClock
from core.container import Services, build_services
from core.settings import Settings
from db.models import Role, User
from tests.support.api_checks import assert_error
from tests.support.auth import auth_headers
from tests.support.factories import add_member, make_org, make_user
from tests.support.sms import last_code, wrong_code

pytestmark = pytest.mark.sqlite

PHONE = "+989121234567"
REQUEST = "/api/auth/otp/request"
VERIFY = "/api/auth/otp/verify"
REFRESH = "/api/auth/token/refresh"
LOGOUT = "/api/auth/logout"
ME = "/api/auth/me"

ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def client_with(
    aiohttp_client, settings: Settings, clock: FrozenClock, db: str, fresh_keys
) -> AsyncIterator[ClientFactory]:
    """``await client_with(**setting_overrides)``: an API client on varied settings."""
    built: list[Services] = []

    async def build(**overrides: object) -> TestClient:
        services = build_services(settings.model_copy(update=overrides), clock=clock)
        built.append(services)
        return await aiohttp_client(create_app(services))

    yield build
    for services in built:
        await services.aclose()


async def sign_in(api, settings: Settings, phone: str = PHONE) -> dict:
    assert (await api.post(REQUEST, json={"phone_number": phone})).status == 200
    response = await api.post(
        VERIFY, json={"phone_number": phone, "code": last_code(settings, phone)}
    )
    assert response.status == 200, await response.text()
    return await response.json()


# Request ---------------------------------------------------------------------------------------


async def test_request_sends_a_code(api, settings: Settings) -> None:
    response = await api.post(REQUEST, json={"phone_number": "0912 123 4567"})
    assert response.status == 200
    assert await response.json() == {"ttl": 300, "resend_after": 60}
    assert len(last_code(settings, PHONE)) == 6


async def test_request_again_is_429_with_retry_after(api, clock: FrozenClock) -> None:
    await api.post(REQUEST, json={"phone_number": PHONE})
    clock.advance(seconds=20)
    response = await api.post(REQUEST + "/", json={"phone_number": "09121234567"})
    error = await assert_error(response, 429, "otp_cooldown")
    assert response.headers["Retry-After"] == "40" and error["retry_after"] == 40


@pytest.mark.parametrize("phone", [9121234567, None, ["09121234567"], {"n": 1}, True, 1.5])
async def test_non_string_phone_is_400(api, phone: object) -> None:
    error = await assert_error(
        await api.post(REQUEST, json={"phone_number": phone}), 400, "invalid_input"
    )
    assert error["fields"][0]["field"] == "phone_number"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"phone_number": "hello"}, "invalid_phone"),
        ({"phone_number": "+98 21 1234 5678"}, "landline_phone"),
        ({"phone_number": "9" * 500}, "invalid_phone"),
        ({}, "invalid_input"),
        ([], "invalid_input"),
        ("09121234567", "invalid_input"),
    ],
)
async def test_bad_phone_bodies_are_400(api, body: object, code: str) -> None:
    await assert_error(await api.post(REQUEST, json=body), 400, code)


async def test_malformed_json_is_400(api) -> None:
    response = await api.post(REQUEST, data=b"{nope", headers={"Content-Type": "application/json"})
    await assert_error(response, 400, "invalid_json")


async def test_errors_follow_accept_language(api) -> None:
    response = await api.post(
        REQUEST, json={"phone_number": "hello"}, headers={"Accept-Language": "fa-IR"}
    )
    error = await assert_error(response, 400, "invalid_phone")
    assert "شماره" in error["message"]


# Verify ----------------------------------------------------------------------------------------


async def test_verify_signs_in_and_creates_the_user(api, settings: Settings) -> None:
    body = await sign_in(api, settings)
    user = await User.get(phone_number=PHONE)
    assert set(body) == {"access", "refresh", "user"}
    assert body["user"] == {
        "id": user.id,
        "phone_number": PHONE,
        "full_name": None,
        "language": "fa",
    }


async def test_verify_trailing_slash_and_persian_digits(api, settings: Settings) -> None:
    await api.post(REQUEST, json={"phone_number": PHONE})
    persian = last_code(settings, PHONE).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    response = await api.post(VERIFY + "/", json={"phone_number": "۰۹۱۲۱۲۳۴۵۶۷", "code": persian})
    assert response.status == 200


async def test_wrong_code_is_400_with_remaining_attempts(api, settings: Settings) -> None:
    await api.post(REQUEST, json={"phone_number": PHONE})
    bad = wrong_code(last_code(settings, PHONE))
    error = await assert_error(
        await api.post(VERIFY, json={"phone_number": PHONE, "code": bad}), 400, "invalid_code"
    )
    assert error["remaining_attempts"] == 4


async def test_expired_code_is_400(api, settings: Settings, clock: FrozenClock) -> None:
    await api.post(REQUEST, json={"phone_number": PHONE})
    clock.advance(seconds=300)
    response = await api.post(
        VERIFY, json={"phone_number": PHONE, "code": last_code(settings, PHONE)}
    )
    await assert_error(response, 400, "code_expired")


async def test_exhausted_attempts_are_429(api, settings: Settings) -> None:
    await api.post(REQUEST, json={"phone_number": PHONE})
    code = last_code(settings, PHONE)
    for _ in range(5):
        await api.post(VERIFY, json={"phone_number": PHONE, "code": wrong_code(code)})
    response = await api.post(VERIFY, json={"phone_number": PHONE, "code": code})
    error = await assert_error(response, 429, "too_many_attempts")
    assert response.headers["Retry-After"] == "60" and error["retry_after"] == 60


@pytest.mark.parametrize(
    "body",
    [
        {"phone_number": PHONE, "code": 123456},
        {"phone_number": PHONE},
        {"phone_number": 9121234567, "code": "123456"},
        {"code": "123456"},
    ],
)
async def test_verify_bad_bodies_are_400(api, body: dict) -> None:
    await assert_error(await api.post(VERIFY, json=body), 400, "invalid_input")


async def test_verify_of_a_deactivated_user_is_401(api, settings: Settings) -> None:
    await make_user(phone=PHONE, active=False)
    await api.post(REQUEST, json={"phone_number": PHONE})
    response = await api.post(
        VERIFY, json={"phone_number": PHONE, "code": last_code(settings, PHONE)}
    )
    await assert_error(response, 401, "user_inactive")


# Refresh, logout, me ---------------------------------------------------------------------------


async def test_refresh_rotates_and_reuse_is_401(api, settings: Settings, clock) -> None:
    first = await sign_in(api, settings)
    response = await api.post(REFRESH, json={"refresh": first["refresh"]})
    assert response.status == 200
    second = await response.json()
    assert set(second) == {"access", "refresh"} and second["refresh"] != first["refresh"]
    # A second tab within the grace gets the same pair; after it, reuse is theft.
    again = await api.post(REFRESH, json={"refresh": first["refresh"]})
    assert (again.status, await again.json()) == (200, second)
    clock.advance(seconds=settings.refresh_reuse_grace_seconds + 1)
    await assert_error(
        await api.post(REFRESH + "/", json={"refresh": first["refresh"]}), 401, "token_revoked"
    )
    await assert_error(
        await api.post(REFRESH, json={"refresh": second["refresh"]}), 401, "token_revoked"
    )
    headers = {"Authorization": f"Bearer {second['access']}"}
    await assert_error(await api.get(ME, headers=headers), 401, "token_revoked")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"refresh": "not-a-token"}, 401, "invalid_token"),
        ({"refresh": 5}, 400, "invalid_input"),
        ({"refresh": None}, 400, "invalid_input"),
        ({"refresh": "x" * 5000}, 400, "invalid_input"),
        ({}, 400, "invalid_input"),
    ],
)
async def test_refresh_bad_input(api, body: dict, status: int, code: str) -> None:
    await assert_error(await api.post(REFRESH, json=body), status, code)


async def test_refresh_with_an_access_token_is_401(api, settings: Settings) -> None:
    tokens = await sign_in(api, settings)
    await assert_error(
        await api.post(REFRESH, json={"refresh": tokens["access"]}), 401, "invalid_token"
    )


async def test_logout_is_204_and_ends_the_session(api, settings: Settings) -> None:
    tokens = await sign_in(api, settings)
    headers = {"Authorization": f"Bearer {tokens['access']}"}
    response = await api.post(LOGOUT, json={"refresh": tokens["refresh"]}, headers=headers)
    assert response.status == 204 and await response.read() == b""
    await assert_error(
        await api.post(REFRESH, json={"refresh": tokens["refresh"]}), 401, "token_revoked"
    )
    await assert_error(await api.get(ME, headers=headers), 401, "token_revoked")


async def test_logout_needs_a_user(api, settings: Settings) -> None:
    tokens = await sign_in(api, settings)
    await assert_error(
        await api.post(LOGOUT + "/", json={"refresh": tokens["refresh"]}), 401, "not_authenticated"
    )


async def test_logout_with_someone_elses_refresh_token_is_401(
    api, services: Services, settings: Settings
) -> None:
    tokens = await sign_in(api, settings)
    headers = await auth_headers(services, await make_user())
    response = await api.post(LOGOUT, json={"refresh": tokens["refresh"]}, headers=headers)
    await assert_error(response, 401, "invalid_token")
    assert (await api.post(REFRESH, json={"refresh": tokens["refresh"]})).status == 200


async def test_me_shows_the_user_and_memberships(api, services: Services) -> None:
    user = await make_user(full_name="مریم")
    org = await make_org(name="نشر نو")
    await add_member(org, Role.EDITOR, user)
    response = await api.get(ME + "/", headers=await auth_headers(services, user))
    assert response.status == 200
    assert await response.json() == {
        "id": user.id,
        "phone_number": user.phone_number,
        "full_name": "مریم",
        "language": "fa",
        "memberships": [
            {"organization": {"id": org.id, "name": "نشر نو", "slug": org.slug}, "role": "editor"}
        ],
    }


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "not_authenticated"),
        ("", "not_authenticated"),
        ("Bearer", "not_authenticated"),
        ("Bearer ", "not_authenticated"),
        ("Basic dXNlcjpwYXNz", "not_authenticated"),
        ("Token abc", "not_authenticated"),
        ("Bearer not.a.jwt", "invalid_token"),
        ("bearer not.a.jwt", "invalid_token"),
    ],
)
async def test_me_without_a_valid_bearer_is_401(api, header: str | None, code: str) -> None:
    headers = {} if header is None else {"Authorization": header}
    await assert_error(await api.get(ME, headers=headers), 401, code)


async def test_me_of_a_deactivated_user_is_401(api, services: Services) -> None:
    user = await make_user()
    headers = await auth_headers(services, user)
    assert (await api.get(ME, headers=headers)).status == 200
    await User.filter(id=user.id).update(is_active=False)
    await assert_error(await api.get(ME, headers=headers), 401, "user_inactive")


# Client addresses -----------------------------------------------------------------------------


async def test_forged_forwarded_for_cannot_reset_the_address_limit(client_with) -> None:
    api = await client_with(otp_request_rate="2/minute")
    for n in (1, 2):
        forged = {"X-Forwarded-For": f"198.51.100.{n}"}
        response = await api.post(REQUEST, json={"phone_number": f"0912111000{n}"}, headers=forged)
        assert response.status == 200
    response = await api.post(
        REQUEST, json={"phone_number": "09121110003"}, headers={"X-Forwarded-For": "198.51.100.3"}
    )
    error = await assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) == error["retry_after"] >= 1


async def test_behind_a_trusted_proxy_the_forwarded_client_counts(client_with) -> None:
    api = await client_with(otp_request_rate="2/minute", trusted_proxies=["127.0.0.1/32", "::1"])

    async def ask(phone: str, forwarded: str) -> int:
        headers = {"X-Forwarded-For": forwarded}
        return (await api.post(REQUEST, json={"phone_number": phone}, headers=headers)).status

    assert await ask("09121110001", "198.51.100.1") == 200
    assert await ask("09121110002", "198.51.100.1") == 200
    assert await ask("09121110003", "198.51.100.2") == 200  # another client behind the proxy
    # What the client wrote left of the proxy's entry is ignored: still 198.51.100.1.
    assert await ask("09121110004", "203.0.113.99, 198.51.100.1") == 429


async def test_openapi_lists_the_auth_routes(api) -> None:
    spec = await (await api.get("/api/openapi.json")).json()
    for path in (REQUEST, VERIFY, REFRESH, LOGOUT, ME):
        assert path in spec["paths"]
    assert "security" in spec["paths"][ME]["get"]
    assert "security" not in spec["paths"][VERIFY]["post"]


async def test_one_address_gets_its_share_of_a_phone_then_429_in_persian(client_with) -> None:
    api = await client_with(otp_resend_seconds=0, otp_request_rate="100/minute")
    for _ in range(3):
        response = await api.post(REQUEST, json={"phone_number": PHONE})
        assert response.status == 200
    response = await api.post(
        REQUEST, json={"phone_number": PHONE}, headers={"Accept-Language": "fa"}
    )
    error = await assert_error(response, 429, "otp_requester_daily_cap")
    assert int(response.headers["Retry-After"]) == error["retry_after"] >= 1
    assert "سهم امروز" in error["message"]


async def test_a_us_number_is_refused_by_default(api) -> None:
    response = await api.post(REQUEST, json={"phone_number": "+1 201 555 0123"})
    await assert_error(response, 400, "phone_region_not_accepted")
