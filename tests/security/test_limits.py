"""Rate limits (Redis and in-process) and exclusive per-key claims."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from core.errors import ServiceUnavailable
from core.security.locks import ExclusiveClaims
from core.security.rate_limit import RateLimiter, parse_rate

DEAD_REDIS = "redis://127.0.0.1:1/0"


BACKENDS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


def _client(request: pytest.FixtureRequest, fresh_keys: aioredis.Redis | None):
    """None for the in-process backend, else the test Redis (the param is marked ``redis``)."""
    if request.param == "memory":
        return None
    assert fresh_keys is not None
    return fresh_keys


@pytest.fixture(params=BACKENDS)
async def limiter(
    request: pytest.FixtureRequest, fresh_keys: aioredis.Redis | None, redis_key_prefix: str
) -> AsyncIterator[RateLimiter]:
    client = _client(request, fresh_keys)
    built = (
        RateLimiter.in_memory()
        if client is None
        else RateLimiter.on_redis(client, namespace=redis_key_prefix)
    )
    yield built
    await built.aclose()


async def test_limit_refuses_over_the_rate_with_retry_after(limiter: RateLimiter) -> None:
    rate = parse_rate("2/minute")
    assert await limiter.hit(rate, "a") is None
    assert await limiter.hit(rate, "a") is None
    refusal = await limiter.hit(rate, "a")
    assert refusal is not None and refusal.key == "a" and 1 <= refusal.retry_after <= 60
    assert await limiter.hit(rate, "b") is None  # another key has its own bucket


async def test_first_refusing_key_stops_the_count(limiter: RateLimiter) -> None:
    rate = parse_rate("1/minute")
    await limiter.hit(rate, "caller")
    refusal = await limiter.hit(rate, "caller", "victim")
    assert refusal is not None and refusal.key == "caller"
    assert await limiter.hit(rate, "victim") is None  # the refused call did not use it up


async def test_unreachable_redis_is_503() -> None:
    client = aioredis.from_url(DEAD_REDIS, socket_connect_timeout=0.5)
    limiter = RateLimiter.on_redis(client)
    try:
        with pytest.raises(ServiceUnavailable):
            await limiter.hit(parse_rate("1/minute"), "a")
    finally:
        await client.aclose()


def test_malformed_rate_fails_early() -> None:
    with pytest.raises(ValueError):
        parse_rate("lots")


@pytest.fixture(params=BACKENDS)
def claims(
    request: pytest.FixtureRequest, fresh_keys: aioredis.Redis | None, redis_key_prefix: str
) -> ExclusiveClaims:
    client = _client(request, fresh_keys)
    return ExclusiveClaims(client, timeout_seconds=30, namespace=redis_key_prefix)


async def test_a_claim_is_exclusive_until_released(claims: ExclusiveClaims) -> None:
    async with claims.hold("phone") as first:
        assert first
        async with claims.hold("phone") as second:
            assert not second
        async with claims.hold("other") as other:
            assert other
    async with claims.hold("phone") as again:
        assert again


async def test_a_claim_is_released_when_the_block_raises(claims: ExclusiveClaims) -> None:
    with pytest.raises(RuntimeError):
        async with claims.hold("phone"):
            raise RuntimeError("send failed")
    async with claims.hold("phone") as again:
        assert again


async def test_claims_on_unreachable_redis_are_503() -> None:
    client = aioredis.from_url(DEAD_REDIS, socket_connect_timeout=0.5)
    try:
        with pytest.raises(ServiceUnavailable):
            async with ExclusiveClaims(client, timeout_seconds=30).hold("phone"):
                pass
    finally:
        await client.aclose()
