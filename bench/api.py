"""REST benchmark: five endpoints of the product against a floor and a bare handler, one run.

Run: ``.venv/bin/python -m bench.api`` (needs PostgreSQL, Redis and ``wrk`` on the PATH:
``apt-get install wrk``). It creates and drops the database ``BENCH_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/contexor_bench_api``) and uses ``BENCH_REDIS_URL`` (default
``redis://127.0.0.1:6379/0``, keys under a prefix of this run). It

1. seeds the data shape of issue 13: 10,000 contents of ~320 Persian words, 50,000 usage rows,
   20 users (the admin reads), and one-time codes for the verify load (HMAC, as the product
   stores them);
2. starts the product as an operator would, ``contexor run --no-bot --no-scheduler`` with
   ``API_WORKERS`` (default: the core count), and in turn the floor (``bench/floor.py``: aiohttp
   + asyncpg in 2 processes, the same JWT check and the same list JSON in one round trip) and
   the bare handler (a 6 KB constant, 2 processes);
3. counts PostgreSQL transactions per request of each endpoint from ``pg_stat_database``
   (100 requests one after another, then a wait for the server's statistics to flush: a
   statement outside a transaction is one transaction, so this counts round trips);
4. loads each endpoint with ``wrk`` at 32 and at 1 connections (2 s warm-up, then
   ``--duration`` seconds, loopback only): requests/s, p50, p99, the server's CPU per request
   (user and system time of its serving processes, from ``/proc``), non-2xx answers, and the
   largest RSS of the product's processes after the run (and their peak at the end);
5. prints the product's numbers as ratios to the floor's list and to the bare handler.

The machine's cores are shared by the server, PostgreSQL and ``wrk``: compare ratios, not the
absolute numbers, between machines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg

import db as database
from core.clock import Clock
from core.security.otp import OtpHasher, new_salt
from core.security.tokens import TokenManager
from core.services.content import count_words
from db.models import Membership, Organization, Project, Role, User, Workspace
from tests.support.databases import create_scratch_database, drop_scratch_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/contexor_bench_api"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = "bench-secret-key-that-is-long-enough-for-hs256-0123456789"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
CODE = "123456"
CODES_PER_THREAD = 40_000  # verify phones per wrk thread: far above what a run consumes
PROBE_REQUESTS = 100
STATS_FLUSH_SECONDS = 11.5  # PostgreSQL 15 flushes an idle backend's counters within 10 s
WARMUP_SECONDS = 2
START_TIMEOUT_SECONDS = 120
REPO = Path(__file__).resolve().parents[1]
PROBES_OFF = "--no-statements" in sys.argv

VOCABULARY = (
    "محتوا نویسنده ویراستار سازمان پروژه مقاله متن بازاریابی فروش مشتری برند کیفیت خدمات "
    "تجربه کاربر طراحی آموزش راهنمای روزانه هفتگی گزارش تحلیل داده نتیجه پیشنهاد بررسی "
    "فرصت رشد بازار محصول جدید قیمت مناسب ارسال سریع پشتیبانی آنلاین شبکه اجتماعی تلگرام "
    "اینستاگرام کانال پیام خبر رویداد همکاری تیم برنامه هدف استراتژی زمان بودجه هزینه "
    "ایران تهران اصفهان شیراز فرهنگ هنر کتاب چای قهوه سفر طبیعت سلامت ورزش فناوری "
    "می‌خواهیم می‌توانیم است بود شد کرد دارد باید برای این آن با از به در که را و هم یا"
)
WORDS = VOCABULARY.split()
STATUSES = ["draft"] * 4 + ["review"] * 2 + ["approved"] * 4
# The product's scenarios by short name, in the order they run (``--endpoints``).
ENDPOINTS = ("list", "detail", "me", "usage", "verify")
ROLES = [Role.ADMIN] + [Role.EDITOR] * 4 + [Role.WRITER] * 10 + [Role.VIEWER] * 5

DETAIL_LUA = """
function request()
  return wrk.format(nil, "/api/contents/" .. math.random(%d, %d))
end
"""
VERIFY_LUA = """
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  offset = tonumber(args[1])
  counter = 0
end
function request()
  local phone = string.format("+98912%%d%%06d", tid, offset + counter)
  counter = counter + 1
  return wrk.format("POST", "/api/auth/otp/verify", {["Content-Type"] = "application/json"},
    '{"phone_number":"' .. phone .. '","code":"%s"}')
end
"""


def persian_body(rng: random.Random, words: int = 320) -> str:
    """About ``words`` words of Persian prose in sentences and paragraphs."""
    sentences, total = [], 0
    while total < words:
        length = rng.randint(8, 16)
        sentences.append(" ".join(rng.choices(WORDS, k=length)) + ".")
        total += length
    paragraphs = [" ".join(sentences[i : i + 5]) for i in range(0, len(sentences), 5)]
    return "\n\n".join(paragraphs)


def verify_phone(thread: int, n: int) -> str:
    return f"+98912{thread}{n:06d}"


@dataclass
class Seeded:
    organization_id: int
    admin_id: int
    first_id: int
    last_id: int


async def seed(url: str, args: argparse.Namespace) -> Seeded:
    """Organisation, 20 members, contents, usage rows and verify codes (COPY for the bulk)."""
    rng = random.Random(1403)
    org = await Organization.create(name="سازمان بنچمارک", slug="bench")
    users = []
    for n, role in enumerate(ROLES):
        user = await User.create(phone_number=f"+98912000{n:04d}", full_name=f"کاربر {n}")
        await Membership.create(user=user, organization=org, role=role)
        users.append(user)
    workspace = await Workspace.create(organization=org, name="فضای کار", slug="ws")
    projects = [
        await Project.create(workspace=workspace, name=f"پروژه {n}", slug=f"p{n}") for n in range(5)
    ]
    authors = [u.id for u, role in zip(users, ROLES, strict=True) if role != Role.VIEWER]
    start = datetime.now(UTC) - timedelta(days=60)
    contents = []
    for n in range(args.contents):
        body = persian_body(rng)
        at = start + timedelta(minutes=n)
        project = projects[n % len(projects)].id
        variables = json.dumps({"topic": rng.choice(WORDS)})
        contents.append(
            (
                org.id,
                workspace.id,
                project,
                f"راهنمای شماره {n}",
                body,
                rng.choice(STATUSES),
                variables,
                count_words(body),
                False,
                "{}",
                1,
                rng.choice(authors),
                at,
                at,
            )
        )
    now = datetime.now(UTC)
    cost = Decimal("0.000495")
    usage = [
        (
            org.id,
            workspace.id,
            rng.choice(users).id,
            "gpt-4o-mini",
            900,
            600,
            1500,
            cost,
            True,
            now - timedelta(minutes=rng.randint(0, 60 * 24 * 60)),
        )
        for _ in range(args.usage_rows)
    ]
    hasher = OtpHasher(SECRET.encode())
    codes = []
    for thread in (0, 1, 9):  # wrk's two threads, and 9 for the statement probe
        for n in range(CODES_PER_THREAD if thread != 9 else PROBE_REQUESTS * 2):
            phone, salt = verify_phone(thread, n), new_salt()
            codes.append((phone, "login", hasher.hash(CODE, salt, phone), salt, 0, now))
            codes[-1] += (now + timedelta(hours=2),)
    hasher.close()
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table(
            "contents",
            records=contents,
            columns=[
                "organization_id",
                "workspace_id",
                "project_id",
                "title",
                "body",
                "status",
                "variables",
                "word_count",
                "has_pii",
                "pii_findings",
                "version_count",
                "created_by_id",
                "created_at",
                "updated_at",
            ],
        )
        await conn.copy_records_to_table(
            "usage_logs",
            records=usage,
            columns=[
                "organization_id",
                "workspace_id",
                "user_id",
                "model",
                "prompt_tokens",
                "completion_tokens",
                "total_tokens",
                "cost_usd",
                "success",
                "created_at",
            ],
        )
        await conn.copy_records_to_table(
            "otp_codes",
            records=codes,
            columns=[
                "phone_number",
                "purpose",
                "code_hash",
                "salt",
                "attempts",
                "created_at",
                "expires_at",
            ],
        )
        await conn.execute("VACUUM ANALYZE")
        first, last = await conn.fetchrow("SELECT min(id), max(id) FROM contents")
    finally:
        await conn.close()
    return Seeded(org.id, users[0].id, first, last)


# --- servers -----------------------------------------------------------------------------------


@dataclass
class Server:
    process: asyncio.subprocess.Process
    url: str
    pids: list[int] = field(default_factory=list)
    drain: asyncio.Task[None] | None = None

    def rss_mib(self, key: str = "VmRSS") -> float:
        """The largest ``key`` (VmRSS now, VmHWM the peak) among the serving processes."""
        values = []
        for pid in self.pids:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith(key + ":"):
                        values.append(int(line.split()[1]) / 1024)
        return max(values, default=0.0)

    def cpu_seconds(self) -> float:
        """User and system CPU time the serving processes have used so far."""
        ticks = 0
        for pid in self.pids:
            with contextlib.suppress(OSError):
                # /proc/PID/stat: fields 14 and 15 (utime, stime) after the ")" of the name.
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    async def measured(self, load: Awaitable[Load]) -> tuple[Load, float]:
        """``load`` run, and the serving processes' CPU milliseconds per request during it."""
        before = self.cpu_seconds()
        done = await load
        return done, 1000 * (self.cpu_seconds() - before) / max(1, done.requests)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 40)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.drain is not None:
            self.drain.cancel()


async def start_product(url: str, redis_url: str, workers: int, workdir: Path) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("API_", "CONTEXOR_"))}
    env.update(
        PYTHONPATH=str(REPO),
        DATABASE_URL=url,
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=f"bench:{os.getpid()}:",
        SECRET_KEY=SECRET,
        API_PORT="0",
        API_WORKERS=str(workers),
        OTP_VERIFY_RATE="100000000/minute",
        LLM_BACKEND="offline",
        SMS_BACKEND="console",
        LOG_LEVEL="INFO",
        PLAYGROUND="false",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--no-bot", "--no-scheduler",
        cwd=workdir, env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    server_url, pids, running = "", [], 0
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while running < workers and time.monotonic() < deadline:
        line = (await asyncio.wait_for(process.stderr.readline(), START_TIMEOUT_SECONDS)).decode()
        if not line:
            raise RuntimeError("the product stopped while starting")
        if match := re.search(r"API listening on (http://\S+)", line):
            server_url = match.group(1)
        if match := re.search(r"worker \d+ started \(pid (\d+)\)", line):
            pids.append(int(match.group(1)))
        running += "contexor is running" in line
    server = Server(process, server_url, pids or [process.pid])
    server.drain = asyncio.create_task(_drain(process.stderr))
    return server


async def start_floor(url: str | None) -> Server:
    argv = ["--bare"] if url is None else ["--database", url, "--secret", SECRET]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.floor", *argv, "--processes", "2",
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_SECONDS)).decode()
    match = re.search(r"listening on (http://\S+)", line)
    if not match:
        raise RuntimeError(f"the floor did not start: {line!r}")
    server = Server(process, match.group(1), children_of(process.pid))
    server.drain = asyncio.create_task(_drain(process.stdout))
    return server


def children_of(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


# --- measuring -------------------------------------------------------------------------------


async def transactions(url: str) -> int:
    """Committed and rolled-back transactions of the bench database so far (as flushed)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        return await conn.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database"
            " WHERE datname = current_database()"
        )
    finally:
        await conn.close()


async def transactions_per_request(
    url: str, base: str, method: str, paths: list[str], headers: dict[str, str], body=None
) -> float:
    """PostgreSQL transactions per request: ``PROBE_REQUESTS`` requests one at a time."""
    if PROBES_OFF:
        return float("nan")
    await asyncio.sleep(STATS_FLUSH_SECONDS)
    before = await transactions(url)
    async with aiohttp.ClientSession(headers=headers) as session:
        for n in range(PROBE_REQUESTS):
            payload = body(n) if body else None
            async with session.request(method, base + paths[n % len(paths)], json=payload) as r:
                await r.read()
                if r.status >= 300:
                    raise RuntimeError(f"{method} {paths[0]} answered {r.status}")
    await asyncio.sleep(STATS_FLUSH_SECONDS)
    # Each transactions() call is one transaction of its own, flushed by the time we read.
    return (await transactions(url) - before - 1) / PROBE_REQUESTS


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


async def wrk(
    url: str, connections: int, seconds: float, token: str | None, script: str | None, *extra: str
) -> Load:
    if urlsplit(url).hostname not in LOOPBACK:
        raise SystemExit(f"refusing to load a non-loopback address: {url}")
    threads = min(2, connections)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    argv += ["--timeout", "10s"]
    if token:
        argv += ["-H", f"Authorization: Bearer {token}"]
    if script:
        argv += ["-s", script]
    argv += [url, *(["--", *extra] if extra else [])]
    process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE)
    out = (await asyncio.wait_for(process.communicate(), seconds + 60))[0].decode()
    if "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed on {url}: {out[-500:]}")
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    if len(latency) < 2:  # no request completed: say so, and let the run go on
        print(f"wrk completed no request on {url}:\n{out[-600:]}", file=sys.stderr, flush=True)
        latency = {"50": "0us", "99": "0us"}
    failures = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    failures += sum(int(n) for n in re.findall(r"(?:timeout|read|write|connect) (\d+)", out))
    return Load(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(latency["50"]),
        p99_ms=_ms(latency["99"]),
        requests=int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        failures=failures,
    )


@dataclass
class Scenario:
    name: str
    path: str
    script: str | None = None
    verify: bool = False


@dataclass
class Result:
    name: str
    connections: int
    load: Load
    rss_mib: float
    per_request: float | None
    cpu_ms: float | None = None  # server CPU (all its processes) per request


def report_line(result: Result, floor: float | None, bare: float | None) -> str:
    load = result.load
    ratios = ""
    if floor:
        ratios += f"  {load.rps / floor:5.2f}x floor"
    if bare:
        ratios += f"  {100 * load.rps / bare:5.1f}% bare"
    transactions = f"{result.per_request:4.2f}" if result.per_request is not None else "   -"
    cpu = f"{result.cpu_ms:5.2f}" if result.cpu_ms is not None else "    -"
    return (
        f"{result.name:34} c={result.connections:<3} {load.rps:8.1f} req/s  p50 "
        f"{load.p50_ms:7.2f} ms  p99 {load.p99_ms:7.2f} ms  CPU {cpu} ms/req  "
        f"RSS {result.rss_mib:5.0f} MiB  PG tx/req {transactions}  non-2xx {load.failures}{ratios}"
    )


async def main(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        raise SystemExit("bench.api needs wrk on the PATH (apt-get install wrk)")
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    if urlsplit(url.replace("postgres://", "postgresql://", 1)).hostname not in LOOPBACK:
        raise SystemExit("BENCH_DATABASE_URL must point at a local PostgreSQL")
    await create_scratch_database(url)
    servers: list[Server] = []
    try:
        await database.migrate(url)
        await database.close()
        await database.init(url)
        started = time.perf_counter()
        seeded = await seed(url, args)
        tokens = TokenManager(
            key=SECRET.encode(),
            clock=Clock(),
            access_ttl=timedelta(hours=2),
            refresh_ttl=timedelta(days=1),
        )
        token = (await tokens.issue(seeded.admin_id)).access
        await database.close()
        print(
            f"seeded {args.contents} contents, {args.usage_rows} usage rows, {len(ROLES)} users "
            f"in {time.perf_counter() - started:.0f} s; cores {os.cpu_count()}, "
            f"product API_WORKERS={args.workers}, floor and bare 2 processes, "
            f"{args.duration:.0f} s per load",
            flush=True,
        )
        ids = (seeded.first_id, seeded.last_id)
        with tempfile.TemporaryDirectory() as workdir:
            lua = Path(workdir)
            (lua / "detail.lua").write_text(DETAIL_LUA % ids)
            (lua / "verify.lua").write_text(VERIFY_LUA % CODE)
            scenarios = [
                Scenario("GET /api/contents (page 1)", "/api/contents"),
                Scenario("GET /api/contents/{id}", "/api/contents/", str(lua / "detail.lua")),
                Scenario("GET /api/auth/me", "/api/auth/me"),
                Scenario(
                    "GET /api/usage/summary (month)",
                    f"/api/usage/summary?scope=organization&scope_id={seeded.organization_id}"
                    "&period=monthly",
                ),
                Scenario(
                    "POST /api/auth/otp/verify (success)",
                    "/api/auth/otp/verify",
                    str(lua / "verify.lua"),
                    verify=True,
                ),
            ]
            # --endpoints: a subset, in this order (the list page is always measured first).
            scenarios = [
                s for s, key in zip(scenarios, ENDPOINTS, strict=True) if key in args.endpoints
            ]
            product = await start_product(url, redis_url, args.workers, Path(workdir))
            servers.append(product)
            results = await measure_product(url, product, scenarios, token, ids, args)
            peak = product.rss_mib("VmHWM")
            await product.stop()
            floor = await start_floor(url)
            servers.append(floor)
            same = await same_list_json(
                product_page=results.pop(), floor_url=floor.url, token=token
            )
            floor_results = [await measure_floor(url, floor, token, c, args) for c in (32, 1)]
            await floor.stop()
            bare = await start_floor(None)
            servers.append(bare)
            bare_results = []
            for connections in (32, 1):
                await wrk(bare.url + "/bare", connections, WARMUP_SECONDS, None, None)
                load, cpu = await bare.measured(
                    wrk(bare.url + "/bare", connections, args.duration, None, None)
                )
                bare_results.append(
                    Result("bare aiohttp, 6 KB", connections, load, bare.rss_mib(), None, cpu)
                )
            await bare.stop()
        print_report(results, floor_results, bare_results, peak, same)
    finally:
        for server in servers:
            with contextlib.suppress(Exception):
                await server.stop()
        with contextlib.suppress(Exception):
            await database.close()
        if not args.keep:
            with contextlib.suppress(Exception):
                await drop_scratch_database(url)
    return 0


async def measure_product(
    url: str,
    product: Server,
    scenarios: list[Scenario],
    token: str,
    ids: tuple[int, int],
    args: argparse.Namespace,
) -> list:
    """Each scenario's transactions per request, then its loads; last item: the list page."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.get(product.url + "/api/contents") as response,
    ):
        page = await response.read()
    results: list = []
    offset = 0
    for scenario in scenarios:
        if scenario.verify:
            per_request = await transactions_per_request(
                url, product.url, "POST", [scenario.path], {},
                body=lambda n: {"phone_number": verify_phone(9, n), "code": CODE},
            )  # fmt: skip
        else:
            paths = (
                [f"{scenario.path}{random.randint(*ids)}" for _ in range(PROBE_REQUESTS)]
                if scenario.script
                else [scenario.path]
            )
            per_request = await transactions_per_request(url, product.url, "GET", paths, headers)
        for connections in (32, 1):
            extra = ()
            if scenario.verify:
                extra = (str(offset),)
            target = product.url + (scenario.path if not scenario.script else "/")
            warm = await wrk(target, connections, WARMUP_SECONDS, token, scenario.script, *extra)
            if scenario.verify:
                offset += warm.requests + 100
                extra = (str(offset),)
            load, cpu = await product.measured(
                wrk(target, connections, args.duration, token, scenario.script, *extra)
            )
            if scenario.verify:
                offset += load.requests + 100
            rss = product.rss_mib()
            result = Result(scenario.name, connections, load, rss, per_request, cpu)
            results.append(result)
            print(report_line(result, None, None), flush=True)
    results.append(page)
    return results


async def measure_floor(
    url: str, floor: Server, token: str, connections: int, args: argparse.Namespace
) -> Result:
    per_request = None
    if connections == 32:
        headers = {"Authorization": f"Bearer {token}"}
        per_request = await transactions_per_request(
            url, floor.url, "GET", ["/api/contents"], headers
        )
    await wrk(floor.url + "/api/contents", connections, WARMUP_SECONDS, token, None)
    load, cpu = await floor.measured(
        wrk(floor.url + "/api/contents", connections, args.duration, token, None)
    )
    result = Result("floor: list page 1", connections, load, floor.rss_mib(), per_request, cpu)
    print(report_line(result, None, None), flush=True)
    return result


async def same_list_json(*, product_page: bytes, floor_url: str, token: str) -> bool:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.get(floor_url + "/api/contents") as response,
    ):
        floor_page = await response.read()
    return json.loads(floor_page) == json.loads(product_page)


def print_report(
    results: list[Result],
    floor_results: list[Result],
    bare_results: list[Result],
    peak_mib: float,
    same: bool,
) -> None:
    floors = {r.connections: r.load.rps for r in floor_results}
    bares = {r.connections: r.load.rps for r in bare_results}
    print("\n== summary (ratios: product req/s to the floor's list, and % of the bare handler)")
    for result in results:
        floor = (
            floors[result.connections] if result.name.startswith("GET /api/contents (") else None
        )
        print(report_line(result, floor, bares[result.connections]))
    for result in floor_results + bare_results:
        print(report_line(result, None, bares[result.connections]))
    print(f"product peak RSS per process (VmHWM): {peak_mib:.0f} MiB")
    print(f"floor and product list pages are the same JSON: {'yes' if same else 'NO'}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--contents", type=int, default=10_000)
    parser.add_argument("--usage-rows", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", action="store_true", help="leave the database behind")
    parser.add_argument(
        "--no-statements", action="store_true", help="skip the transactions-per-request probes"
    )
    parser.add_argument(
        "--endpoints",
        default=",".join(ENDPOINTS),
        help=f"comma-separated subset of {','.join(ENDPOINTS)} (the list is always included)",
    )
    args = parser.parse_args(argv)
    args.endpoints = {"list", *filter(None, args.endpoints.split(","))}
    if not args.endpoints <= set(ENDPOINTS):
        parser.error(f"--endpoints takes names from {','.join(ENDPOINTS)}")
    if not 0 < args.duration <= 120 or args.contents < 1 or not 0 < args.workers <= 16:
        parser.error("duration must be in (0, 120], contents >= 1, workers in 1..16")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
