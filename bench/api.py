"""Content API benchmark: the list and detail reads under 64 concurrent connections.

Run: ``.venv/bin/python -m bench.api`` (PostgreSQL must be running; it creates and drops the
database named by ``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/contexor_bench_api``). It

1. seeds 10,000 contents with ~300-word Persian bodies (``bulk_create``) in one organisation;
2. serves the real app (``create_app``) on a loopback port, in this process;
3. for each of ``GET /api/contents?page=1`` (20 items) and ``GET /api/contents/{id}`` (a random
   id per request), runs a load generator in a separate process: 64 concurrent keep-alive
   connections with an admin's JWT for 20 seconds, loopback only, bounded in time and count;
4. prints requests/s, p50 and p99 latency, and SQL statements per request, counted in the
   server by wrapping the Tortoise client's execute methods (``tests/support/queries.py``):
   once for a single request, and as total statements / total requests over the whole load.

Options: ``--duration S`` (default 20), ``--connections N`` (64), ``--contents N`` (10000),
``--keep`` (leave the database for inspection). The machine has 2 cores: server and load
generator share them, so the numbers are a floor for one process of the product.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from tortoise import connections

import db as database
from core.api.app import create_app
from core.container import Services, build_services
from core.services.content import count_words
from core.settings import Settings
from db.models import (
    Content,
    ContentStatus,
    ContentVersion,
    Membership,
    Organization,
    Project,
    Role,
    User,
    VersionSource,
    Workspace,
)
from tests.support.databases import create_scratch_database, drop_scratch_database
from tests.support.queries import recording_queries

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/contexor_bench_api"
SECRET = "bench-secret-key-that-is-long-enough-for-hs256-0123456789"
BATCH = 500
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_REQUESTS_PER_CONNECTION = 200_000  # a bound far above what 20 s allows
LOADER_GRACE_SECONDS = 60
STATUSES = [ContentStatus.DRAFT] * 4 + [ContentStatus.REVIEW] * 2 + [ContentStatus.APPROVED] * 4

VOCABULARY = (
    "محتوا نویسنده ویراستار سازمان پروژه مقاله متن بازاریابی فروش مشتری برند کیفیت خدمات "
    "تجربه کاربر طراحی آموزش راهنمای روزانه هفتگی گزارش تحلیل داده نتیجه پیشنهاد بررسی "
    "فرصت رشد بازار محصول جدید قیمت مناسب ارسال سریع پشتیبانی آنلاین شبکه اجتماعی تلگرام "
    "اینستاگرام کانال پیام خبر رویداد همکاری تیم برنامه هدف استراتژی زمان بودجه هزینه "
    "ایران تهران اصفهان شیراز فرهنگ هنر کتاب چای قهوه سفر طبیعت سلامت ورزش فناوری "
    "می‌خواهیم می‌توانیم است بود شد کرد دارد باید برای این آن با از به در که را و هم یا"
)
WORDS = VOCABULARY.split()


def persian_body(rng: random.Random, words: int = 300) -> str:
    """About ``words`` words of Persian prose in sentences and paragraphs."""
    sentences, total = [], 0
    while total < words:
        length = rng.randint(8, 16)
        sentences.append(" ".join(rng.choices(WORDS, k=length)) + ".")
        total += length
    paragraphs = [" ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5)]
    return "\n\n".join(paragraphs)


async def seed(count: int) -> tuple[User, list[int]]:
    """One organisation, its admin and ``count`` contents (each with its first version)."""
    rng = random.Random(1403)
    org = await Organization.create(name="سازمان بنچمارک", slug="bench")
    admin = await User.create(phone_number="+989120000001", full_name="مدیر")
    await Membership.create(user=admin, organization=org, role=Role.ADMIN)
    workspace = await Workspace.create(organization=org, name="فضای کار", slug="ws")
    projects = [
        await Project.create(workspace=workspace, name=f"پروژه {n}", slug=f"p{n}") for n in range(5)
    ]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for first in range(0, count, BATCH):
        rows = []
        for n in range(first, min(first + BATCH, count)):
            body = persian_body(rng)
            rows.append(
                Content(
                    organization_id=org.id,
                    workspace_id=workspace.id,
                    project_id=projects[n % len(projects)].id,
                    title=f"راهنمای {rng.choice(WORDS)} {rng.choice(WORDS)} شماره {n}",
                    body=body,
                    status=rng.choice(STATUSES),
                    variables={"topic": rng.choice(WORDS)},
                    word_count=count_words(body),
                    version_count=1,
                    created_by_id=admin.id,
                    created_at=start + timedelta(minutes=n),
                )
            )
        await Content.bulk_create(rows)
    ids = await Content.all().order_by("id").values_list("id", flat=True)
    contents = await Content.all().order_by("id").values_list("id", "title", "body")
    for first in range(0, len(contents), BATCH):
        await ContentVersion.bulk_create(
            [
                ContentVersion(
                    content_id=cid,
                    number=1,
                    title=title,
                    body=body,
                    source=VersionSource.CREATED,
                    created_by_id=admin.id,
                )
                for cid, title, body in contents[first : first + BATCH]
            ]
        )
    return admin, list(ids)


# --- the load generator (runs in its own process) ---------------------------------------------


async def load(
    base: str, path: str, ids: tuple[int, int], duration: float, connections: int, token: str
) -> dict:
    """``connections`` workers GET ``path`` (``{id}`` filled at random) until the deadline."""
    if urlsplit(base).hostname not in LOOPBACK:
        raise SystemExit(f"refusing to load a non-loopback address: {base}")
    rng = random.Random(7)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    connector = aiohttp.TCPConnector(limit=connections)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker(deadline: float) -> None:
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                if time.perf_counter() >= deadline:
                    return
                url = base + path.format(id=rng.randint(*ids))
                started = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                latencies.append(time.perf_counter() - started)
                statuses[response.status] += 1

        # Warm-up: open every connection and touch every code path, untimed.
        await asyncio.gather(*(worker(time.perf_counter() + 1.0) for _ in range(connections)))
        warmup = len(latencies)
        latencies.clear()
        statuses.clear()
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(*(worker(deadline) for _ in range(connections)))
        elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "all_requests": len(latencies) + warmup,
        "statuses": {str(k): v for k, v in statuses.items()},
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
    }


def loader_main(config: str) -> int:
    """Entry of the child process: run one load and print its result as JSON."""
    spec = json.loads(config)
    result = asyncio.run(
        load(
            spec["base"],
            spec["path"],
            tuple(spec["ids"]),
            spec["duration"],
            spec["connections"],
            os.environ["BENCH_TOKEN"],
        )
    )
    print(json.dumps(result))
    return 0


# --- the server side ---------------------------------------------------------------------------


async def run_load(
    base: str, path: str, ids: list[int], args: argparse.Namespace, token: str
) -> dict:
    """Start the loader process, count the server's SQL meanwhile, return both."""
    spec = {
        "base": base,
        "path": path,
        "ids": [ids[0], ids[-1]],
        "duration": args.duration,
        "connections": args.connections,
    }
    cpu_started = time.process_time()
    with recording_queries() as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.api",
            "--loader",
            json.dumps(spec),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "BENCH_TOKEN": token},
        )
        try:
            out, _ = await asyncio.wait_for(
                process.communicate(), args.duration + LOADER_GRACE_SECONDS
            )
        except TimeoutError:
            process.kill()
            raise
    if process.returncode != 0:
        raise RuntimeError(f"load generator failed with {process.returncode}")
    result = json.loads(out)
    result["queries_per_request"] = log.count / result["all_requests"]
    # CPU of this (server) process per request: less sensitive than requests/s to what else
    # runs on the machine; PostgreSQL's own CPU is not in it.
    result["server_cpu_ms"] = (time.process_time() - cpu_started) * 1000 / result["all_requests"]
    return result


async def single_request_queries(base: str, path: str, token: str) -> tuple[int, int, list[str]]:
    """(status, statements) of one request, measured alone."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        with recording_queries() as log:
            async with session.get(base + path) as response:
                await response.read()
    return response.status, log.count, log.statements


def shorten(sql: str) -> str:
    return " ".join(sql.split())[:110]


async def main(args: argparse.Namespace) -> int:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    if urlsplit(url.replace("postgres://", "postgresql://", 1)).hostname not in LOOPBACK:
        raise SystemExit("BENCH_DATABASE_URL must point at a local PostgreSQL")
    await create_scratch_database(url)
    await database.migrate(url)
    await database.close()
    await database.init(url)
    settings = Settings(
        _env_file=None, database_url=url, redis_url=None, secret_key=SECRET, llm_backend="offline"
    )
    services: Services | None = None
    runner: web.AppRunner | None = None
    try:
        print(f"seeding {args.contents} contents ...", flush=True)
        started = time.perf_counter()
        admin, ids = await seed(args.contents)
        # What autovacuum would have done on a live database: without statistics the planner
        # guesses, and the first seconds of the load would measure its guesses.
        await connections.get("default").execute_script("VACUUM ANALYZE")
        words = await Content.filter(id=ids[0]).values_list("word_count", flat=True)
        print(f"seeded in {time.perf_counter() - started:.1f} s ({words[0]} words per body)")
        services = build_services(settings)
        token = (await services.auth.issue_tokens(admin)).access
        runner = web.AppRunner(create_app(services), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{site.port}"
        scenarios = [
            ("GET /api/contents?page=1", "/api/contents?page=1"),
            ("GET /api/contents/{id}", "/api/contents/{id}"),
        ]
        print(
            f"cpu cores: {os.cpu_count()}; {args.connections} connections, {args.duration:.0f} s "
            "per endpoint; server and load generator share the cores\n"
        )
        for name, path in scenarios:
            status, statements, sql = await single_request_queries(
                base, path.format(id=ids[len(ids) // 2]), token
            )
            assert status == 200, status
            print(f"{name}: one request = {statements} SQL statements")
            for line in sql:
                print(f"    {shorten(line)}")
            result = await run_load(base, path, ids, args, token)
            print(
                f"  requests/s {result['rps']:8.1f}   p50 {result['p50_ms']:7.1f} ms   "
                f"p99 {result['p99_ms']:7.1f} ms   queries/request "
                f"{result['queries_per_request']:.2f}   server CPU "
                f"{result['server_cpu_ms']:.2f} ms/request\n"
                f"  ({result['requests']} requests, statuses {result['statuses']}; "
                f"load average {os.getloadavg()[0]:.1f})\n",
                flush=True,
            )
    finally:
        if runner is not None:
            await runner.cleanup()
        if services is not None:
            await services.aclose()
        await database.close()
        if not args.keep:
            with contextlib.suppress(Exception):
                await drop_scratch_database(url)
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--contents", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="leave the database behind")
    parser.add_argument("--loader", help=argparse.SUPPRESS)  # internal: the child process
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 120 or not 0 < args.connections <= 256 or args.contents < 1:
        parser.error("duration must be in (0, 120], connections in (0, 256], contents >= 1")
    return args


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    if arguments.loader:
        sys.exit(loader_main(arguments.loader))
    sys.exit(asyncio.run(main(arguments)))
