"""Generation benchmark: 200 concurrent generations against a model that takes 2 s to answer.

Run: ``.venv/bin/python -m bench.generation`` (PostgreSQL must be running; it creates and drops
the database named by ``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/contexor_bench_gen``). It serves the real app on a loopback
port, points the real openai client at the fake OpenAI-compatible server (run in a child process
so its memory and CPU are not counted) with a 2 s delay before each answer, and measures:

1. wall time from sending 200 ``POST /api/contents/{id}/generate`` at once until every job has
   ended (each reserves usage, streams, writes a version and settles), and how many succeeded;
2. the process's RSS before and at its peak (``/proc/self/status`` VmRSS / VmHWM);
3. the p99 latency of ``GET /healthz`` when idle and while the 200 generations are in flight,
   plus the event loop's lag: a ratio near 1 means generation blocks nothing.

``BENCH_POOL_SIZE=20`` sets the database pool's size (Tortoise's default is 5) for comparison.
Every wait is bounded (the whole run is cut at ``RUN_TIMEOUT_SECONDS``); everything listens on
127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
from decimal import Decimal

import aiohttp
from aiohttp import web
from pydantic import SecretStr

import db as database
from bench.measure import LoopLag, p99
from core.api.app import create_app
from core.container import Services, build_services
from core.settings import LlmBackend, Settings
from db.models import GenerationJob, JobStatus, Role
from tests.support.databases import create_scratch_database, drop_scratch_database
from tests.support.factories import (
    add_member,
    make_org,
    make_project,
    make_workspace,
    principal_for,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/contexor_bench_gen"
GENERATIONS = 200
ANSWER_DELAY_SECONDS = 2.0
ANSWER = "قهوهٔ دمی را با آب نود و دو درجه آماده کنید. " * 20  # ~900 characters
IDLE_SAMPLES = 200
HEALTH_PAUSE_SECONDS = 0.01
RUN_TIMEOUT_SECONDS = 180
FAKE_LIFETIME_SECONDS = RUN_TIMEOUT_SECONDS + 30

# The fake model server, in its own process: prints its port, serves until stdin closes.
FAKE_SERVER = f"""
import asyncio, sys
from tests.fakes.openai_server import FakeOpenAI

async def main():
    async with FakeOpenAI(answer={ANSWER!r}) as fake:
        fake.initial_delay = {ANSWER_DELAY_SECONDS}
        fake.chunk_chars = 40
        print(fake.url, flush=True)
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        await asyncio.wait_for(reader.read(), {FAKE_LIFETIME_SECONDS})

asyncio.run(main())
"""


def memory_kib() -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of this process, in KiB."""
    values = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


async def start_fake() -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        FAKE_SERVER,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    url = line.decode().strip()
    if not url.startswith("http://127.0.0.1:"):
        raise RuntimeError(f"the fake model server did not start: {line!r}")
    return process, url


async def stop_fake(process: asyncio.subprocess.Process) -> None:
    if process.stdin is not None:
        process.stdin.close()
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        process.kill()
        await process.wait()


async def sample_health(
    session: aiohttp.ClientSession, base: str, *, until: asyncio.Event | None, count: int
) -> tuple[list[float], int]:
    """(/healthz latencies, how many were not 200), paced, until ``until`` is set."""
    latencies: list[float] = []
    unhealthy = 0
    for _ in range(count):
        if until is not None and until.is_set():
            break
        started = time.perf_counter()
        async with session.get(base + "/healthz") as response:
            await response.read()
            # 503: its database check waited over 2 s for a pooled connection.
            unhealthy += response.status != 200
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(HEALTH_PAUSE_SECONDS)
    return latencies, unhealthy


async def prepare(services: Services) -> tuple[dict[str, str], list[int]]:
    """An organisation, a writer and GENERATIONS draft contents; the writer's auth header."""
    org = await make_org()
    writer = await add_member(org, Role.WRITER)
    project = await make_project(await make_workspace(org))
    contents = [
        await services.content.create(
            actor=await principal_for(writer),
            project_id=project.id,
            title=f"قهوهٔ دمی {n}",
            body="راهنمای کوتاه دم‌آوری قهوه در خانه.",
        )
        for n in range(GENERATIONS)
    ]
    tokens = await services.auth.issue_tokens(writer)
    return {"Authorization": f"Bearer {tokens.access}"}, [c.id for c in contents]


async def run(url: str) -> None:
    fake, fake_url = await start_fake()
    settings = Settings(
        _env_file=None,
        database_url=url,
        redis_url=None,
        secret_key=SecretStr("bench-secret-key-that-is-long-enough-for-hs256-0123456789"),
        llm_backend=LlmBackend.OPENAI,
        openai_base_url=fake_url + "/v1",
        openai_api_key=SecretStr("bench"),
        openai_timeout_seconds=30,
        timezone="Asia/Tehran",
        default_workspace_monthly_budget_usd=Decimal(1000),
        default_user_monthly_budget_usd=Decimal(1000),
    )
    services = build_services(settings)
    runner = web.AppRunner(create_app(services), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site.port}"
    try:
        headers, content_ids = await prepare(services)
        connector = aiohttp.TCPConnector(limit=GENERATIONS + 10)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with LoopLag() as idle_lag:
                idle, _ = await sample_health(session, base, until=None, count=IDLE_SAMPLES)
            rss_before = memory_kib()["VmRSS"]

            async def generate(content_id: int) -> int:
                async with session.post(
                    f"{base}/api/contents/{content_id}/generate", json={}, headers=headers
                ) as response:
                    await response.read()
                    return response.status

            done = asyncio.Event()
            async with LoopLag() as loaded_lag:
                sampler = asyncio.create_task(
                    sample_health(session, base, until=done, count=100_000)
                )
                started = time.perf_counter()
                statuses = await asyncio.gather(*(generate(i) for i in content_ids))
                accepted = time.perf_counter() - started
                await services.generation.drain()
                wall = time.perf_counter() - started
                done.set()
                loaded, unhealthy = await sampler
        memory = memory_kib()
        succeeded = await GenerationJob.filter(status=JobStatus.SUCCEEDED).count()
        failed = await GenerationJob.filter(status=JobStatus.FAILED).values_list("error", flat=True)
        print(f"cpu cores:                       {os.cpu_count()}")
        print(
            f"generations:                     {GENERATIONS} at once, model answers after "
            f"{ANSWER_DELAY_SECONDS:.0f} s ({len(ANSWER)} characters, streamed)"
        )
        print(
            f"202 answers:                     {statuses.count(202)} "
            f"(other statuses: {sorted(s for s in statuses if s != 202)})"
        )
        print(f"all 202s returned after:         {accepted:.2f} s")
        print(f"wall time until all jobs ended:  {wall:.2f} s")
        print(f"jobs succeeded / failed:         {succeeded} / {len(failed)} {sorted(set(failed))}")
        print(
            f"RSS before / after / peak:       {rss_before / 1024:.1f} / "
            f"{memory['VmRSS'] / 1024:.1f} / {memory['VmHWM'] / 1024:.1f} MiB"
        )
        print(
            f"/healthz p99 idle:               {p99(idle) * 1000:.2f} ms "
            f"(median {statistics.median(idle) * 1000:.2f} ms, n={len(idle)})"
        )
        print(
            f"/healthz p99 during generations: {p99(loaded) * 1000:.2f} ms "
            f"(median {statistics.median(loaded) * 1000:.2f} ms, n={len(loaded)}, "
            f"503s: {unhealthy})"
        )
        print(
            f"event-loop lag p99 idle/loaded:  {p99(idle_lag.samples) * 1000:.2f} ms / "
            f"{p99(loaded_lag.samples) * 1000:.2f} ms"
        )
    finally:
        await runner.cleanup()
        await services.aclose()
        await stop_fake(fake)


async def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    # BENCH_POOL_SIZE: the asyncpg pool's maxsize (Tortoise's default is 5), as DATABASE_URL's
    # ?maxsize= would set it in production.
    pool = os.environ.get("BENCH_POOL_SIZE")
    orm_url = f"{url}?maxsize={int(pool)}" if pool else url
    print(f"database pool maxsize:           {pool or 'default (5)'}")
    await create_scratch_database(url)
    await database.migrate(orm_url)
    await database.close()
    await database.init(orm_url)
    try:
        await asyncio.wait_for(run(orm_url), RUN_TIMEOUT_SECONDS)
    finally:
        await database.close()
        with contextlib.suppress(Exception):
            await drop_scratch_database(url)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
