"""Fixtures of the fault suite: a private PostgreSQL cluster and Redis per test, the fake model.

Every test here is marked ``faults`` and runs only when selected (``pytest -m faults``; see
``tests/conftest.py``): each starts real servers and a real ``contexor run`` and waits out real
outages, so it does not belong in the quick suite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.faults.product import ADMIN_PHONE, Client, Product
from tests.faults.servers import PrivatePostgres, PrivateRedis

DATABASE = "contexor"


@pytest.fixture
async def postgres() -> AsyncIterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    cluster.init()
    await cluster.start()
    await cluster.create_database(DATABASE)
    yield cluster
    await cluster.close()


@pytest.fixture
async def redis() -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def product(
    tmp_path: Path, postgres: PrivatePostgres, redis: PrivateRedis, model: FakeOpenAI
) -> AsyncIterator[Product]:
    """Configured and bootstrapped (an organisation with an admin), not yet started."""
    run = Product.configured(
        tmp_path,
        DATABASE_URL=postgres.url(DATABASE),
        REDIS_URL=redis.url,
        LLM_BACKEND="openai",
        OPENAI_BASE_URL=model.base_url,
        OPENAI_API_KEY="faults",
        OPENAI_TIMEOUT_SECONDS="30",
        API_WORKERS="1",  # the faults as one process meets them; its pid is the one signalled
    )
    status, err = await run.command("bootstrap", "--phone", ADMIN_PHONE, "--org", "Faults")
    assert status == 0, err
    yield run
    await run.stop()


@dataclass
class Stuck:
    """What a generation that is over must not leave behind."""

    jobs_active: int
    contents_generating: int
    reservations_held: int
    counters_reserved: int


async def stuck(postgres: PrivatePostgres) -> Stuck:
    async def count(query: str) -> int:
        return (await postgres.fetch(DATABASE, query))[0][0]

    return Stuck(
        jobs_active=await count(
            "SELECT count(*) FROM generation_jobs WHERE status IN ('pending', 'running')"
        ),
        contents_generating=await count(
            "SELECT count(*) FROM contents WHERE status = 'generating'"
        ),
        reservations_held=await count(
            "SELECT count(*) FROM usage_reservations WHERE status = 'held'"
        ),
        counters_reserved=await count(
            "SELECT count(*) FROM usage_counters WHERE reserved_requests <> 0"
            " OR reserved_tokens <> 0 OR reserved_cost_usd <> 0"
        ),
    )


NOTHING_STUCK = Stuck(0, 0, 0, 0)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def signed_in(product: Product, http: aiohttp.ClientSession) -> Client:
    client = Client(http, await product.serving(), product.cwd / "outbox.jsonl")
    response = await client.sign_in()
    assert response.status == 200, await response.text()
    return client
