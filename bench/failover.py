"""Bot failover between replicas: how long a user waits when the leader dies or stops.

Run: ``.venv/bin/python -m bench.failover [--rounds 3 --lease 5]`` (PostgreSQL and Redis must be
running; it creates and drops the database named by ``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/contexor_bench_failover``, and uses ``BENCH_REDIS_URL``,
default ``redis://127.0.0.1:6379/14``, under a key prefix of its own). It starts the fake Bot API
in this process and two ``contexor run --no-api --no-scheduler`` replicas polling it, then
``--rounds`` times each:

- ``kill -9`` of the leader, a user's ``/help`` sent at once: the time until it is answered by
  the other replica (bounded by the lease: the standby waits for it to expire);
- SIGTERM of the leader, the same: the lease is handed over at once.

A new standby is started after each round (its start-up is not measured). Prints each time and
the median of each kind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from pydantic import SecretStr

import db as database
from core.settings import Settings
from tests.fakes.bot_api import FakeBotApi
from tests.support.databases import create_scratch_database, drop_scratch_database
from tests.support.replicas import Replica, replica_env

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/contexor_bench_failover"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
LEADS = r"leads the bot \(lease token"


async def bench(rounds: int, lease: float) -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    await create_scratch_database(url)
    await database.migrate(url)
    await database.close()
    try:
        with tempfile.TemporaryDirectory() as directory:
            await _rounds(Path(directory), url, rounds, lease)
    finally:
        await drop_scratch_database(url)


async def _rounds(directory: Path, url: str, rounds: int, lease: float) -> None:
    async with FakeBotApi() as fake:
        settings = Settings(
            _env_file=None,
            data_dir=directory / "data",
            database_url=url,
            redis_url=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
            redis_key_prefix=f"bench:{uuid.uuid4().hex[:8]}:",
            secret_key="bench-secret-key-that-is-long-enough-0123456789",
            telegram_bot_token=SecretStr(fake.token),
            telegram_api_base_url=fake.url,
            sms_outbox=directory / "sms.jsonl",
        )
        env = replica_env(settings, BOT_LEASE_SECONDS=str(lease), LOG_LEVEL="INFO")
        args = ("--no-api", "--no-scheduler")
        times: dict[str, list[float]] = {"kill -9": [], "SIGTERM": []}
        replicas = [await Replica(f"r{n}", env, *args, cwd=directory).__aenter__() for n in (0, 1)]
        answers = 0
        try:
            for n in range(rounds * 2):
                kind = "kill -9" if n % 2 == 0 else "SIGTERM"
                leader = next(r for r in replicas if r.count(LEADS) > 0)
                replicas.remove(leader)
                started = time.monotonic()
                leader.signal(signal.SIGKILL if kind == "kill -9" else signal.SIGTERM)
                fake.user_sends_text(900_001, "/help")
                answers += 1
                await fake.wait_for_calls("sendMessage", answers, chat_id=900_001, timeout=120)
                times[kind].append(time.monotonic() - started)
                print(f"{kind:8} answered after {times[kind][-1]:.2f} s", flush=True)
                await leader.__aexit__(None, None, None)
                replicas.append(await Replica(f"r{n + 2}", env, *args, cwd=directory).__aenter__())
        finally:
            for replica in replicas:
                await replica.__aexit__(None, None, None)
        for kind, samples in times.items():
            print(f"{kind:8} median {statistics.median(samples):.2f} s over {len(samples)}")
        print(f"(BOT_LEASE_SECONDS={lease:g})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lease", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(bench(args.rounds, args.lease))


if __name__ == "__main__":
    main()
