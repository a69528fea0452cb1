"""The Kavenegar client against a local fake: request shape, error mapping, key secrecy."""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from core.errors import ServiceUnavailable
from core.sms.base import SmsFailed
from core.sms.kavenegar import KavenegarSmsSender
from tests.fakes.kavenegar import FakeKavenegar

# A "/" makes the key's path-encoded form differ from the raw one; both must stay hidden.
API_KEY = "4D6A31Secret/KeyZ7"
ENCODED_KEY = "4D6A31Secret%2FKeyZ7"
PHONE = "+989121234567"


@pytest.fixture
async def fake() -> AsyncIterator[FakeKavenegar]:
    async with FakeKavenegar() as server:
        yield server


def make_sender(base_url: str, *, timeout_seconds: float = 5.0) -> KavenegarSmsSender:
    return KavenegarSmsSender(
        api_key=SecretStr(API_KEY),
        template="login-otp",
        base_url=base_url,
        timeout_seconds=timeout_seconds,
    )


@pytest.fixture
async def sender(fake: FakeKavenegar) -> AsyncIterator[KavenegarSmsSender]:
    client = make_sender(fake.url)
    yield client
    await client.aclose()


async def send_and_fail(sender: KavenegarSmsSender) -> SmsFailed:
    with pytest.raises(SmsFailed) as caught:
        await sender.send_otp(phone=PHONE, code="123456", language="fa")
    return caught.value


def everything_said_about(error: BaseException) -> str:
    """The printed traceback plus str/repr of every exception reachable by cause or context."""
    parts = ["".join(traceback.format_exception(error))]
    pending: list[BaseException] = [error]
    while pending:
        link = pending.pop()
        parts += [str(link), repr(link)]
        pending += [e for e in (link.__cause__, link.__context__) if e is not None]
    return "\n".join(parts)


async def test_sends_the_verify_lookup_form(
    fake: FakeKavenegar, sender: KavenegarSmsSender
) -> None:
    await sender.send_otp(phone=PHONE, code="123456", language="fa")

    [request] = fake.requests
    assert request.api_key == API_KEY
    assert request.method == "verify/lookup"
    assert request.form == {
        "receptor": "989121234567",
        "template": "login-otp",
        "token": "123456",
        "type": "sms",
    }


async def test_reuses_one_session_across_sends(
    fake: FakeKavenegar, sender: KavenegarSmsSender
) -> None:
    await sender.send_otp(phone=PHONE, code="111111", language="fa")
    session = sender._session
    await sender.send_otp(phone=PHONE, code="222222", language="en")

    assert session is not None and sender._session is session
    assert [r.form["token"] for r in fake.requests] == ["111111", "222222"]


@pytest.mark.parametrize(
    ("return_status", "reason"),
    [(418, "insufficient_credit"), (424, "template_not_found"), (499, "gateway_error")],
)
async def test_maps_return_status_to_a_reason_without_retrying(
    fake: FakeKavenegar, sender: KavenegarSmsSender, return_status: int, reason: str
) -> None:
    fake.respond(return_status=return_status)

    error = await send_and_fail(sender)

    assert isinstance(error, ServiceUnavailable)
    assert error.code == "sms_failed"
    assert error.params == {"reason": reason, "gateway_status": return_status}
    assert len(fake.requests) == 1


async def test_the_body_decides_even_under_http_200(
    fake: FakeKavenegar, sender: KavenegarSmsSender
) -> None:
    fake.respond(return_status=418, http_status=200)

    error = await send_and_fail(sender)

    assert error.reason == "insufficient_credit"


async def test_http_5xx_with_a_non_json_body_is_a_gateway_error(
    fake: FakeKavenegar, sender: KavenegarSmsSender
) -> None:
    fake.respond_raw("<html>502 Bad Gateway</html>", http_status=502)

    error = await send_and_fail(sender)

    assert error.params == {"reason": "gateway_error"}
    assert len(fake.requests) == 1


async def test_non_json_under_http_200_is_a_gateway_error(
    fake: FakeKavenegar, sender: KavenegarSmsSender
) -> None:
    fake.respond_raw("OK", http_status=200, content_type="text/plain")

    error = await send_and_fail(sender)

    assert error.reason == "gateway_error"


async def test_a_redirect_is_not_followed(fake: FakeKavenegar, sender: KavenegarSmsSender) -> None:
    # Following it would send the key-bearing path wherever the Location points.
    fake.respond_raw("", http_status=307, headers={"Location": f"{fake.url}/v1/x/verify/b.json"})

    error = await send_and_fail(sender)

    assert error.reason == "gateway_error"
    assert len(fake.requests) == 1


async def test_a_slow_gateway_times_out_once(fake: FakeKavenegar) -> None:
    fake.delay = 30.0
    sender = make_sender(fake.url, timeout_seconds=0.2)
    try:
        error = await send_and_fail(sender)
    finally:
        await sender.aclose()

    assert error.reason == "timeout"
    assert len(fake.requests) == 1


@pytest.mark.parametrize("phone", ["0912 123 4567", "+۹۸۹۱۲۱۲۳۴۵۶۷", "+989121234567\n", ""])
async def test_an_invalid_receptor_is_refused_before_any_request(
    fake: FakeKavenegar, sender: KavenegarSmsSender, phone: str
) -> None:
    with pytest.raises(SmsFailed) as caught:
        await sender.send_otp(phone=phone, code="123456", language="fa")

    assert caught.value.reason == "invalid_receptor"
    assert fake.requests == []


async def test_the_key_is_in_no_log_line_error_or_repr(
    fake: FakeKavenegar, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with FakeKavenegar() as gone:
        closed_port_url = gone.url
    errors: list[SmsFailed] = []
    # ftp:// and an impossible port make aiohttp raise errors whose message is the full URL.
    for base_url in (fake.url, closed_port_url, "ftp://127.0.0.1", "http://127.0.0.1:99999"):
        # Generous: these fail at once or answer at once, and a loaded machine must not turn
        # the first into a timeout; only the stalled gateway below waits out a short one.
        sender = make_sender(base_url, timeout_seconds=10)
        fake.respond(return_status=403)
        try:
            errors.append(await send_and_fail(sender))
        finally:
            await sender.aclose()
    fake.delay = 30.0
    sender = make_sender(fake.url, timeout_seconds=0.2)
    try:
        errors.append(await send_and_fail(sender))
    finally:
        await sender.aclose()

    assert [e.reason for e in errors] == [
        "invalid_api_key",
        "connection_error",
        "connection_error",
        "connection_error",
        "timeout",
    ]
    assert "***" in everything_said_about(errors[2])  # the URL was there, masked
    said = caplog.text + repr(sender) + "".join(everything_said_about(e) for e in errors)
    assert API_KEY not in said
    assert ENCODED_KEY not in said
