"""Shared fixtures: settings, a real database (PostgreSQL by default), Redis, a clock.

The database is created once per test session (and per xdist worker) by running the committed
migrations, so every test exercises the real schema; each test that asks for ``db`` starts from
empty tables. ``TEST_DATABASE_URL`` chooses the server (``sqlite://…`` runs the embedded default);
``TEST_REDIS_URL`` chooses the Redis server, or ``none`` to run the product without Redis as the
embedded default does. Every key a test session writes starts with that session's own prefix
(a random id, not the xdist worker index) and is deleted before each test, so sessions sharing
one Redis never collide.

Markers: ``sqlite`` tests also run on SQLite; ``postgres`` tests need PostgreSQL (they force an
interleaving with a second session's row locks) and ``redis`` tests need a Redis server. Either
is deselected when its server is not configured, so ``-m sqlite`` and ``TEST_REDIS_URL=none``
runs need no further filter.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from tortoise import Tortoise, connections

import db as database
from core.api.app import create_app
from core.clock import FrozenClock
from core.container import Services, build_services
from core.settings import Settings
from tests.support.databases import create_scratch_database, drop_scratch_database, truncate_all

DEFAULT_TEST_DATABASE = "postgres://postgres@127.0.0.1:5432/contexor_test"
DEFAULT_TEST_REDIS = "redis://127.0.0.1:6379/15"
TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256-0123456789"
NO_REDIS = "none"


def _database_base() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE)


def _redis_base() -> str | None:
    url = os.environ.get("TEST_REDIS_URL", DEFAULT_TEST_REDIS)
    return None if url.strip().lower() == NO_REDIS else url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect tests whose server this run does not have (see the module notes)."""
    missing = set()
    # The fault suite stops servers and waits out outages: only when asked for by name.
    if "faults" not in (config.option.markexpr or ""):
        missing.add("faults")
    if _database_base().startswith("sqlite"):
        missing.add("postgres")
    if _redis_base() is None:
        missing.add("redis")
    if not missing:
        return
    kept, dropped = [], []
    for item in items:
        (dropped if missing & {m.name for m in item.iter_markers()} else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """This process's own database (``…_<pid>``: parallel sessions never share one)."""
    base = _database_base()
    if base.startswith("sqlite"):
        return f"sqlite://{tmp_path_factory.mktemp('db') / 'contexor.sqlite3'}"
    return f"{base}_{os.getpid()}"


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    """The Redis server and index for tests (None: no Redis); isolation is ``redis_key_prefix``."""
    return _redis_base()


@pytest.fixture(scope="session")
def redis_key_prefix() -> str:
    """Keys of this process only: unique per session and xdist worker."""
    return f"test:{uuid.uuid4().hex[:12]}:{_worker()}:"


@pytest_asyncio.fixture(scope="session")
async def _schema(database_url: str) -> AsyncIterator[str]:
    """Create the database, apply the committed migrations, keep the ORM open for the session."""
    await create_scratch_database(database_url)
    await database.migrate(database_url)
    await database.close()
    await database.init(database_url)
    yield database_url
    await database.close()
    await drop_scratch_database(database_url)


@pytest_asyncio.fixture
async def db(_schema: str) -> AsyncIterator[str]:
    """An empty database for this test."""
    await truncate_all(connections.get("default"), Tortoise.apps)
    yield _schema


async def _delete_keys(client: aioredis.Redis, prefix: str) -> None:
    async for batch in _batched(client.scan_iter(match=f"{prefix}*", count=500), 500):
        await client.delete(*batch)


async def _batched(keys, size: int):
    batch = []
    async for key in keys:
        batch.append(key)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@pytest_asyncio.fixture
async def fresh_keys(
    redis_url: str | None, redis_key_prefix: str
) -> AsyncIterator[aioredis.Redis | None]:
    """None of this session's Redis keys left from an earlier test (nothing to do without Redis).

    Yields a client on the test Redis, or None when the run has none; tests that need Redis ask
    for ``clean_redis`` instead.
    """
    if redis_url is None:
        yield None
        return
    client = aioredis.from_url(redis_url, decode_responses=False)
    await _delete_keys(client, redis_key_prefix)
    yield client
    await _delete_keys(client, redis_key_prefix)
    await client.aclose()


@pytest.fixture
def clean_redis(fresh_keys: aioredis.Redis | None) -> aioredis.Redis:
    """A Redis client with none of this session's keys; mark the test ``redis``."""
    if fresh_keys is None:
        pytest.fail("this test needs Redis: mark it `redis` so runs without Redis deselect it")
    return fresh_keys


@pytest.fixture
def clock() -> FrozenClock:
    """A clock that stands still at 2026-11-30 08:00 UTC until a test moves it."""
    return FrozenClock()


@pytest_asyncio.fixture
async def services(
    settings: Settings, clock: FrozenClock, db: str, fresh_keys: aioredis.Redis | None
) -> AsyncIterator[Services]:
    """The container the product builds, on the test settings and the frozen clock."""
    built = build_services(settings, clock=clock)
    yield built
    await built.aclose()


@pytest_asyncio.fixture
async def api(aiohttp_client, services: Services):
    """An HTTP client for the REST sidecar, over a real socket."""
    return await aiohttp_client(create_app(services))


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, redis_url: str | None, redis_key_prefix: str
) -> Settings:
    """Settings for tests: real database and Redis (unless none), file SMS outbox, offline model."""
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=database_url,
        redis_url=redis_url,
        redis_key_prefix=redis_key_prefix,
        secret_key=TEST_SECRET,
        # Explicit: Tortoise.init writes TIMEZONE=UTC into os.environ (see db/__init__.py).
        timezone="Asia/Tehran",
        sms_backend="file",
        sms_outbox=tmp_path / "sms-outbox.jsonl",
        llm_backend="offline",
    )
