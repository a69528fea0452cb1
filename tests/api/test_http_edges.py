"""What the sidecar answers to hostile or malformed HTTP: always the envelope, never a 500."""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from core.api.app import create_app
from core.api.server import ApiRunner
from core.container import Services, build_services
from core.i18n import translate
from core.settings import Settings
from db.models import Role
from tests.support.api_checks import assert_error
from tests.support.auth import auth_headers
from tests.support.factories import (
    add_member,
    make_org,
    make_project,
    make_user,
    make_workspace,
)
from tests.support.proxy import CuttableProxy

OTP_REQUEST = "/api/auth/otp/request"
FA = {"Accept-Language": "fa"}


async def test_a_deeply_nested_body_is_400_with_one_log_line(api, caplog) -> None:
    deep = b"[" * 1000 + b"]" * 1000
    caplog.set_level(logging.INFO, logger="core")
    response = await api.post(OTP_REQUEST, data=deep, headers={"Content-Type": "application/json"})
    await assert_error(response, 400, "json_too_deep")
    lines = [r for r in caplog.records if r.name.startswith("core")]
    assert len(lines) == 1 and lines[0].exc_info is None, lines
    moderately = b"[" * 40 + b"]" * 40  # parses fine, still deeper than the bound
    response = await api.post(
        OTP_REQUEST, data=moderately, headers={"Content-Type": "application/json"}
    )
    await assert_error(response, 400, "json_too_deep")


async def test_a_body_that_is_not_json_is_415(api) -> None:
    body = json.dumps({"phone_number": "09121234567"})
    response = await api.post(OTP_REQUEST, data=body, headers={"Content-Type": "text/plain"})
    await assert_error(response, 415, "unsupported_media_type")


async def test_an_oversized_body_is_413_in_the_reader_language(api) -> None:
    body = json.dumps({"phone_number": "x" * 1_000_001})
    response = await api.post(
        OTP_REQUEST, data=body, headers={"Content-Type": "application/json", **FA}
    )
    error = await assert_error(response, 413, "body_too_large")
    assert error["message"] == translate("fa", "error.body_too_large")
    assert error["max_bytes"] == 1_000_000


async def test_field_problems_follow_accept_language_and_stay_raw_utf8(api) -> None:
    response = await api.post(OTP_REQUEST, json={"phone_number": 5}, headers=FA)
    error = await assert_error(response, 400, "invalid_input")
    assert error["fields"] == [
        {"field": "phone_number", "problem": translate("fa", "problem.string_type")}
    ]
    text = await response.text()
    assert "\\u" not in text and translate("fa", "problem.string_type") in text
    english = await api.post(OTP_REQUEST, json={"phone_number": 5})
    assert (await english.json())["error"]["fields"][0]["problem"] == "Must be text."


async def test_unknown_fields_and_loose_types_are_refused(api, services: Services) -> None:
    user = await make_user()
    org = await make_org()
    headers = await auth_headers(services, user)
    for body in ({"phone_number": "09121234567", "extra": 1},):
        await assert_error(await api.post(OTP_REQUEST, json=body), 400, "invalid_input")
    for organization in (True, "2", 2.5):
        response = await api.post(
            "/api/workspaces", json={"organization": organization, "name": "w"}, headers=headers
        )
        error = await assert_error(response, 400, "invalid_input")
        assert error["fields"][0]["field"] == "organization"
    limit = {"scope": "organization", "scope_id": org.id, "period": "daily", "bogus": 1}
    await assert_error(
        await api.put("/api/usage/limits", json=limit, headers=headers), 400, "invalid_input"
    )
    generate = await api.post("/api/contents/1/generate", json={"bogus": 1}, headers=headers)
    await assert_error(generate, 400, "invalid_input")


async def test_unknown_query_parameters_are_named(api, services: Services) -> None:
    headers = await auth_headers(services, await make_user())
    response = await api.get("/api/contents?page=1&colour=red&size=2", headers=headers)
    error = await assert_error(response, 400, "unknown_parameters")
    assert error["names"] == ["colour", "size"]


async def test_401_says_how_to_authenticate_and_the_server_names_no_versions(api) -> None:
    response = await api.get("/api/auth/me")
    await assert_error(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["Server"] == "Contexor"
    assert (await api.get("/healthz")).headers["Server"] == "Contexor"


async def test_an_unknown_prompt_is_404(api, services: Services) -> None:
    org = await make_org()
    admin = await add_member(org, Role.ADMIN)
    project = await make_project(await make_workspace(org))
    body = {"project": project.id, "title": "t", "prompt": 999_999}
    headers = await auth_headers(services, admin)
    response = await api.post("/api/contents", json=body, headers=headers)
    await assert_error(response, 404, "unknown_prompt")


async def test_metrics_are_served_only_where_the_setting_says(
    aiohttp_client, settings: Settings, db, fresh_keys
) -> None:
    assert Settings(_env_file=None, api_host="127.0.0.1").serves_metrics
    assert not Settings(_env_file=None, api_host="0.0.0.0").serves_metrics  # noqa: S104
    assert Settings(_env_file=None, api_host="0.0.0.0", metrics_enabled=True).serves_metrics  # noqa: S104
    hidden = build_services(settings.model_copy(update={"metrics_enabled": False}))
    try:
        client = await aiohttp_client(create_app(hidden))
        await assert_error(await client.get("/metrics"), 404, "not_found")
        spec = await (await client.get("/api/openapi.json")).json()
        assert "/metrics" not in spec["paths"]
    finally:
        await hidden.aclose()


@pytest.mark.parametrize(
    "request_head",
    [
        b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /healthz?q=سلام HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
    ],
)
async def test_parser_errors_answer_the_envelope(services: Services, request_head: bytes) -> None:
    runner = ApiRunner(create_app(services), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_head)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
    finally:
        await runner.cleanup()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b" ")[1].startswith(b"4"), head
    assert b"Content-Type: application/json" in head, head
    assert b"Server: Contexor" in head, head
    error = json.loads(body)["error"]
    assert error["code"] in ("bad_request", "method_not_allowed") and error["message"]
    assert b"BREW" not in body and b"Python" not in head


@pytest.mark.redis
async def test_redis_down_is_503_logged_once_and_recovers(
    aiohttp_client, settings: Settings, db, clean_redis, caplog
) -> None:
    real = urlsplit(settings.redis_url)
    proxy = CuttableProxy(real.hostname or "127.0.0.1", real.port or 6379)
    await proxy.start()
    through_url = real._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
    through = settings.model_copy(update={"redis_url": through_url})
    services = build_services(through)
    try:
        client = await aiohttp_client(create_app(services))
        body = {"phone_number": "09121234567"}
        assert (await client.post(OTP_REQUEST, json=body)).status == 200
        await proxy.cut()
        caplog.set_level(logging.INFO, logger="core.api")
        for _ in range(3):
            response = await client.post(OTP_REQUEST, json={"phone_number": "09121234568"})
            await assert_error(response, 503, "rate_limit_unavailable")
            assert int(response.headers["Retry-After"]) > 0
        down = [r for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(down) == 1, [r.getMessage() for r in caplog.records]
        await proxy.restore()
        response = await client.post(OTP_REQUEST, json={"phone_number": "09121234569"})
        assert response.status == 200, await response.text()
        back = [r for r in caplog.records if "available again" in r.getMessage()]
        assert len(back) == 1
    finally:
        await services.aclose()
        await proxy.close()


@pytest.mark.redis
async def test_a_redis_that_never_answers_is_a_503_not_a_hang(
    aiohttp_client, settings: Settings, db, clean_redis
) -> None:
    real = urlsplit(settings.redis_url)
    proxy = CuttableProxy(real.hostname or "127.0.0.1", real.port or 6379)
    await proxy.start()
    through_url = real._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
    services = build_services(settings.model_copy(update={"redis_url": through_url}))
    try:
        client = await aiohttp_client(create_app(services))
        body = {"phone_number": "09121234567"}
        assert (await client.post(OTP_REQUEST, json=body)).status == 200
        proxy.stall()
        # Without socket timeouts on the Redis client this request waits forever; the bound
        # here only turns such a hang into a failure, it measures nothing.
        response = await asyncio.wait_for(
            client.post(OTP_REQUEST, json={"phone_number": "09121234568"}), timeout=60
        )
        await assert_error(response, 503, "rate_limit_unavailable")
    finally:
        await services.aclose()
        await proxy.close()


async def test_the_document_states_what_the_server_enforces(api) -> None:
    spec = await (await api.get("/api/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    limit = schemas["LimitIn"]
    assert limit["additionalProperties"] is False
    money = limit["properties"]["cost_limit_usd"]["anyOf"][0]
    assert money["type"] == "string" and money["pattern"].startswith("^[0-9]")
    assert schemas["GenerateIn"]["additionalProperties"] is False
    variable = next(s for name, s in schemas.items() if name.startswith("PromptVariable"))
    assert "pattern" in variable["properties"]["name"]
    assert schemas["OtpRequestIn"]["properties"]["phone_number"]["minLength"] == 1
    assert schemas["ContentCreateIn"]["properties"]["title"]["pattern"]  # no NUL
    create = spec["paths"]["/api/contents"]["post"]["responses"]
    assert {"413", "415"} <= set(create)
    generate = spec["paths"]["/api/contents/{id}/generate"]["post"]["responses"]
    assert "402" in generate
    assert generate["202"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "StartedJobOut"
    )
    summary = {p["name"]: p for p in spec["paths"]["/api/usage/summary"]["get"]["parameters"]}
    assert summary["scope_id"]["required"] is True and summary["id"]["deprecated"] is True
    edit_409 = spec["paths"]["/api/contents/{id}"]["patch"]["responses"]["409"]
    assert edit_409["content"]["application/json"]["schema"]["$ref"].endswith("LockConflictOut")
    lock = spec["components"]["schemas"]["LockConflictDetail"]["properties"]
    assert {"unlock_at", "retry_after", "content_id"} <= set(lock)
    ready = spec["paths"]["/readyz"]["get"]["responses"]["503"]
    assert ready["content"]["application/json"]["schema"]["$ref"].endswith("ReadyOut")
    assert "WWW-Authenticate" in spec["paths"]["/api/auth/me"]["get"]["responses"]["401"]["headers"]
