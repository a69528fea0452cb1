"""Sign-in codes sent through Kavenegar (a local fake) end to end: API, service and client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from core.api.app import create_app
from core.clock import FrozenClock
from core.container import build_services
from core.settings import Settings, SmsBackend
from db.models import OtpCode
from tests.fakes.kavenegar import FakeKavenegar
from tests.support.api_checks import assert_error

API_KEY = "Kave-Secret/Key-0042"
ENCODED_KEY = "Kave-Secret%2FKey-0042"
PHONE = "+989121234567"
REQUEST = "/api/auth/otp/request"
VERIFY = "/api/auth/otp/verify"


@pytest.fixture
async def fake() -> AsyncIterator[FakeKavenegar]:
    async with FakeKavenegar() as server:
        yield server


@pytest.fixture
async def api(
    aiohttp_client, settings: Settings, clock: FrozenClock, fake: FakeKavenegar, db: str, fresh_keys
) -> AsyncIterator[TestClient]:
    kavenegar = settings.model_copy(
        update={
            "sms_backend": SmsBackend.KAVENEGAR,
            "kavenegar_api_key": SecretStr(API_KEY),
            "kavenegar_base_url": fake.url,
            "sms_timeout_seconds": 0.3,
        }
    )
    services = build_services(kavenegar, clock=clock)
    yield await aiohttp_client(create_app(services))
    await services.aclose()


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


def assert_key_hidden(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    said = caplog.text + "".join(texts)
    assert API_KEY not in said and ENCODED_KEY not in said


async def test_code_goes_through_kavenegar_and_signs_in(
    api: TestClient, fake: FakeKavenegar, caplog: pytest.LogCaptureFixture
) -> None:
    response = await api.post(REQUEST, json={"phone_number": "09121234567"})
    assert response.status == 200
    [sent] = fake.requests
    assert sent.api_key == API_KEY and sent.method == "verify/lookup"
    assert sent.form["receptor"] == "989121234567" and sent.form["template"] == "login-otp"
    response = await api.post(VERIFY, json={"phone_number": PHONE, "code": sent.form["token"]})
    assert response.status == 200
    assert_key_hidden(caplog, await response.text())
    assert sent.form["token"] not in caplog.text  # development logs the code only on console


@pytest.mark.parametrize(
    ("setup", "label"),
    [
        (lambda fake: fake.respond(return_status=418), "return.status error"),
        (lambda fake: fake.respond(return_status=418, http_status=200), "status in body only"),
        (lambda fake: fake.respond_raw("<h1>Bad gateway</h1>", http_status=502), "HTTP 5xx"),
        (lambda fake: setattr(fake, "delay", 2.0), "timeout"),
    ],
)
async def test_gateway_failure_is_503_and_changes_nothing(
    api: TestClient, fake: FakeKavenegar, caplog: pytest.LogCaptureFixture, setup, label: str
) -> None:
    setup(fake)
    response = await api.post(REQUEST, json={"phone_number": PHONE})
    error = await assert_error(response, 503, "sms_failed")
    assert set(error) == {"code", "message"}, label  # no gateway details leak to the caller
    assert await OtpCode.all().count() == 0
    assert_key_hidden(caplog, await response.text())
    # No cooldown was set: once the gateway is back, a code can be asked for at once.
    fake.delay = 0.0
    fake.respond(return_status=200)
    assert (await api.post(REQUEST, json={"phone_number": PHONE})).status == 200


async def test_failed_resend_leaves_the_previous_code_valid(
    api: TestClient, fake: FakeKavenegar, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    await api.post(REQUEST, json={"phone_number": PHONE})
    first = fake.requests[-1].form["token"]
    clock.advance(seconds=60)
    fake.respond(return_status=418)
    await assert_error(await api.post(REQUEST, json={"phone_number": PHONE}), 503, "sms_failed")
    response = await api.post(VERIFY, json={"phone_number": PHONE, "code": first})
    assert response.status == 200
    assert_key_hidden(caplog)
