"""Notification delivery benchmark: outbox rows delivered per second against the fake Bot API.

Run: ``.venv/bin/python -m bench.outbox`` (PostgreSQL must be running; it creates and drops the
database named by ``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/contexor_bench_outbox``). It

1. seeds ``--users`` people with linked Telegram accounts (the fake knows their chats);
2. writes ``--rows`` outbox rows, one transaction per row as services do, and reports rows/s;
3. runs ``--workers`` delivery workers (``bot/delivery.py``), each with its own real
   ``telegram.Bot`` talking HTTP to ``tests/fakes/bot_api.py`` on loopback, until every row is
   sent, and reports rows/s delivered and the Bot API calls made (equal to the rows when no row
   is sent twice).

Options: ``--rows N`` (default 2000), ``--users N`` (200), ``--workers N`` (1), ``--batch N``
(``OUTBOX_BATCH_SIZE``, 20), ``--concurrency N`` (``OUTBOX_CONCURRENCY``, 8), ``--keep``.
The fake server, the workers and PostgreSQL share the machine's 2 cores, so the numbers are a
floor. Telegram itself allows about 30 messages per second per bot.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from tempfile import mkdtemp

from telegram import Bot
from tortoise.transactions import in_transaction

import db as database
from bot.delivery import DeliveryWorker
from core.container import build_services
from core.settings import Settings
from db.models import OutboxMessage, OutboxStatus, TelegramLink, User
from tests.fakes.bot_api import FakeBotApi
from tests.support.databases import create_scratch_database, drop_scratch_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/contexor_bench_outbox"
FIRST_TELEGRAM_ID = 100_000


async def main(args: argparse.Namespace) -> None:
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    await create_scratch_database(url)
    await database.migrate(url)
    await database.close()
    await database.init(url)
    try:
        await run(url, args)
    finally:
        await database.close()
        if not args.keep:
            await drop_scratch_database(url)


async def run(url: str, args: argparse.Namespace) -> None:
    settings = Settings(
        _env_file=None,
        database_url=url,
        data_dir=Path(mkdtemp(prefix="bench-outbox-")),
        secret_key="bench-secret-key-that-is-long-enough-for-hs256-0123456789",
        sms_backend="console",
        llm_backend="offline",
        outbox_batch_size=args.batch,
        outbox_concurrency=args.concurrency,
        outbox_poll_seconds=0.05,
    )
    services = build_services(settings)
    users = await User.bulk_create([User(phone_number=f"+98912{n:07d}") for n in range(args.users)])
    users = await User.all().order_by("id")
    await TelegramLink.bulk_create(
        [
            TelegramLink(
                user=u, telegram_user_id=FIRST_TELEGRAM_ID + i, chat_id=FIRST_TELEGRAM_ID + i
            )
            for i, u in enumerate(users)
        ]
    )

    started = time.perf_counter()
    for n in range(args.rows):
        async with in_transaction() as conn:
            await services.outbox.enqueue(
                connection=conn,
                user_ids=[users[n % len(users)].id],
                kind="generation_finished",
                payload={"content_id": n, "title": f"متن شماره {n}", "ok": True},
            )
    written = time.perf_counter() - started
    print(f"enqueue: {args.rows} rows in {written:.2f} s = {args.rows / written:.0f} rows/s")

    async with FakeBotApi() as fake:
        fake.max_poll_seconds = 0.1
        for i in range(len(users)):
            fake.add_user(FIRST_TELEGRAM_ID + i)
        bots = [
            Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url)
            for _ in range(args.workers)
        ]
        for bot in bots:
            await bot.initialize()
        workers = [DeliveryWorker(bot, services) for bot in bots]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        await fake.wait_until(
            lambda: len(fake.calls_to("sendMessage")) >= args.rows, timeout=600, what="all sent"
        )
        for worker in workers:
            await worker.stop()  # ends after settling its batch
        elapsed = time.perf_counter() - started
        settled = await OutboxMessage.filter(status=OutboxStatus.SENT).count()
        for bot in bots:
            await bot.shutdown()
        calls = len(fake.calls_to("sendMessage"))
    print(
        f"deliver: {args.rows} rows, {args.workers} worker(s), batch {args.batch}, "
        f"concurrency {args.concurrency}: "
        f"{elapsed:.2f} s = {args.rows / elapsed:.0f} rows/s; sendMessage calls {calls}, "
        f"rows sent {settled}"
    )
    await services.aclose()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
