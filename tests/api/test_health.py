"""``/healthz``, ``/metrics``, the OpenAPI document and the error envelope of unknown routes."""

from __future__ import annotations

import pytest

from tests.support.api_checks import assert_error


@pytest.mark.redis
async def test_readyz_reports_database_and_redis(api, clean_redis) -> None:
    response = await api.get("/readyz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok", "redis": "ok"}
    assert (await api.get("/readyz/")).status == 200


@pytest.mark.redis
async def test_redis_down_is_degraded_not_unready_and_liveness_does_not_care(api, services) -> None:
    await services.redis.aclose()
    services.redis = services.redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    response = await api.get("/readyz")
    assert response.status == 200  # only sign-in needs Redis
    assert await response.json() == {"status": "degraded", "database": "ok", "redis": "error"}
    live = await api.get("/healthz")
    assert (live.status, await live.json()) == (200, {"status": "ok"})


@pytest.mark.postgres
async def test_readyz_is_503_when_the_database_does_not_answer(api, services) -> None:
    unreachable = "postgres://postgres@127.0.0.1:1/nothing"
    services.settings = services.settings.model_copy(update={"database_url": unreachable})
    response = await api.get("/readyz")
    assert response.status == 503
    assert (await response.json())["database"] == "error"
    assert (await api.get("/healthz")).status == 200


async def test_metrics_are_prometheus_text(api) -> None:
    response = await api.get("/metrics")
    assert response.status == 200
    assert "python_info" in await response.text()


async def test_openapi_document_is_3_1(api) -> None:
    response = await api.get("/api/openapi.json")
    spec = await response.json()
    assert spec["openapi"] == "3.1.0"
    assert "/healthz" in spec["paths"]


async def test_unknown_path_and_method_use_the_envelope(api) -> None:
    await assert_error(await api.get("/api/nothing-here"), 404, "not_found")
    await assert_error(await api.delete("/healthz"), 405, "method_not_allowed")


async def test_a_body_is_required_in_the_spec_only_when_a_field_is(api) -> None:
    spec = await (await api.get("/api/openapi.json")).json()
    verify = spec["paths"]["/api/auth/otp/verify"]["post"]["requestBody"]
    approve = spec["paths"]["/api/contents/{id}/approve"]["post"]["requestBody"]
    assert verify["required"] is True
    assert approve["required"] is False  # the note is optional; an empty body is accepted


async def test_requests_are_counted_by_route_template_and_tagged_with_an_id(api) -> None:
    await api.get("/api/contents/12345")
    response = await api.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    too_long = "x" * 200  # it would land in every log line of the request
    replaced = await api.get("/healthz", headers={"X-Request-ID": too_long})
    assert len(replaced.headers["X-Request-ID"]) == 32
    metrics = await (await api.get("/metrics")).text()
    assert 'route="/api/contents/{id}"' in metrics
    assert "/api/contents/12345" not in metrics
    assert 'contexor_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics
