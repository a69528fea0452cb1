"""Redis stopped under a running product, and PostgreSQL down when the product starts."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.faults.conftest import signed_in
from tests.faults.product import Client, Product, poll
from tests.faults.servers import PrivatePostgres, PrivateRedis

pytestmark = pytest.mark.faults


async def test_redis_stopped_only_sign_in_answers_503_and_it_recovers_without_restart(
    product: Product, redis: PrivateRedis, http: aiohttp.ClientSession
) -> None:
    await product.start("--no-scheduler")
    client = await signed_in(product, http)

    await redis.stop()
    refused = await client.sign_in()
    body = await refused.json()
    assert (refused.status, body["error"]["code"]) == (503, "rate_limit_unavailable"), body
    assert int(refused.headers["Retry-After"]) > 0
    # Everything else works: the signed-in user's calls, and a new draft.
    assert (await client.call("GET", "/api/auth/me"))[0] == 200
    assert await client.draft() > 0
    ready = await http.get(f"{client.base}/readyz")
    assert (ready.status, await ready.json()) == (
        200,
        {"status": "degraded", "database": "ok", "redis": "error"},
    )

    await redis.start()  # same port, nothing persisted
    # Another person (the admin asked for a code a moment ago: the resend interval holds).
    back = await client.sign_in(phone="+989121110001")
    assert back.status == 200, await back.text()
    ready = await http.get(f"{client.base}/readyz")
    assert (await ready.json())["status"] == "ok"
    assert "Traceback" not in product.text, product.text
    # One line when it went, one when it came back.
    assert product.text.count("redis is unavailable") == 1, product.text
    assert product.text.count("redis is available again") == 1, product.text


async def test_postgres_down_at_start_the_process_waits_then_serves(
    product: Product, postgres: PrivatePostgres, http: aiohttp.ClientSession
) -> None:
    await postgres.stop()
    await product.start("--no-scheduler")
    # It says it is waiting, once per try, and serves nothing yet.
    await poll(lambda: _tries(product, at_least=2), within=60)
    await postgres.start()

    client = Client(http, await product.serving(within=60), product.cwd / "outbox.jsonl")
    assert (await client.sign_in()).status == 200
    ready = await http.get(f"{client.base}/readyz")
    assert (await ready.json())["status"] == "ok"
    assert "Traceback" not in product.text, product.text


async def test_postgres_that_never_comes_exits_1_with_one_line(product: Product) -> None:
    product.env.update(
        DATABASE_URL="postgres://postgres@127.0.0.1:1/none", DATABASE_WAIT_SECONDS="3"
    )
    await product.start("--no-scheduler")

    assert await product.exited(within=60) == 1
    last = [line for line in product.log if line.strip()][-1]
    assert last.startswith("contexor: database unreachable after 3 s"), product.text
    assert "Traceback" not in product.text, product.text


async def _tries(product: Product, *, at_least: int) -> bool | None:
    await asyncio.sleep(0)
    return True if product.text.count("database unreachable (try") >= at_least else None
