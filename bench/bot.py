"""Telegram bot benchmark: simulated writers pressing menus and answering questions.

Run: ``.venv/bin/python -m bench.bot`` (PostgreSQL must be running; it creates and drops the
database named by ``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/contexor_bench_bot``). It

1. seeds one organisation with a workspace, a project, a prompt of three questions (text,
   number, choice) and ``--users`` linked writers;
2. starts the fake Bot API (``tests/fakes/bot_api.py``) and the real bot
   (``bot.app.build_application``, long polling) in this process;
3. runs every simulated user in a closed loop for ``--duration`` seconds: ``/new``, "continue
   in X / Y" (or the pickers the first time), three answers, Cancel; each next update is
   sent once the bot finished the previous one;
4. does the same with a bare PTB echo bot (a ``MessageHandler`` answering with the text, the
   same fake, the same processor concurrency) for comparison;
5. prints updates handled per second and p50/p99 from an update's arrival at the fake to the
   end of its handling (the bot's answers are sent inside the handling).

Options: ``--users N`` (default 50), ``--duration S`` (default 15), ``--keep``, and
``--no-overall-limit``: the product's ``AIORateLimiter`` holds every chat-addressed call to
Telegram's 30 a second for the whole bot, which caps the bot near 30 / (calls per update)
updates a second whatever the code costs; this flag lifts that cap (bench only) to measure the
handling itself. Everything
(fake, bot, load) shares one process and the machine's 2 cores with other work, so the numbers
are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

from pydantic import SecretStr
from telegram import Update
from telegram.ext import AIORateLimiter, Application, ContextTypes, MessageHandler, filters

import bot.app as bot_app
import db as database
from bench.measure import p99
from bot.app import build_application
from bot.processor import PerUserUpdateProcessor
from bot.runtime import start_bot
from core.container import build_services
from core.settings import Settings
from db.models import Membership, Organization, Project, Prompt, Role, TelegramLink, User, Workspace
from tests.fakes.bot_api import FakeBotApi
from tests.support.databases import create_scratch_database, drop_scratch_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/contexor_bench_bot"
FIRST_TELEGRAM_ID = 500_001
ANSWERS = ("قهوهٔ دمی در خانه", "۳۰۰", "رسمی")
VARIABLES = [
    {"name": "topic", "label": "موضوع", "type": "text", "required": True, "max_length": 200},
    {"name": "words", "label": "طول", "type": "number", "min_value": 50, "max_value": 2000},
    {"name": "tone", "label": "لحن", "type": "choice", "choices": ["رسمی", "صمیمی"]},
]
RUN_TIMEOUT_SECONDS = 600


class Meter:
    """Arrival time per update id, and the latency of each one handled."""

    def __init__(self, fake: FakeBotApi) -> None:
        self.fake = fake
        self.sent: dict[int, float] = {}
        self.waiters: dict[int, asyncio.Future[None]] = {}
        self.latencies: list[float] = []
        self.counting = False

    def processed(self, update: object) -> None:
        update_id = getattr(update, "update_id", None)
        started = self.sent.pop(update_id, None)
        if started is not None and self.counting:
            self.latencies.append(time.perf_counter() - started)
        waiter = self.waiters.pop(update_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def act(self, queue: Callable[[], Any]) -> None:
        """Queue one update (``queue`` calls the fake) and wait until the bot handled it."""
        queue()
        update_id = self.fake.last_update_id
        future = asyncio.get_running_loop().create_future()
        self.sent[update_id] = time.perf_counter()
        self.waiters[update_id] = future
        await asyncio.wait_for(future, 30)


async def seed(users: int) -> tuple[list[int], Project, Prompt]:
    org = await Organization.create(name="بنچ", slug="bench")
    workspace = await Workspace.create(organization=org, name="فضا", slug="ws")
    project = await Project.create(workspace=workspace, name="پروژه", slug="p")
    prompt = await Prompt.create(
        organization=org,
        title="پست",
        template="{topic} {words} {tone}",
        variables=VARIABLES,
    )
    ids = []
    for n in range(users):
        user = await User.create(phone_number=f"+98912{n:07d}", language="fa")
        await Membership.create(user=user, organization=org, role=Role.WRITER)
        telegram_id = FIRST_TELEGRAM_ID + n
        await TelegramLink.create(user=user, telegram_user_id=telegram_id, chat_id=telegram_id)
        ids.append(telegram_id)
    return ids, project, prompt


def newest_with(fake: FakeBotApi, chat_id: int, data: str):  # type: ignore[no-untyped-def]
    for message in reversed(fake.messages(chat_id, from_bot=True)):
        if any(button.callback_data == data for button in message.buttons):
            return message
    raise LookupError(f"{chat_id}: no button {data}")


async def writer_loop(
    meter: Meter, telegram_id: int, project: Project, prompt: Prompt, until: float
) -> int:
    fake = meter.fake
    cycles = 0
    while time.perf_counter() < until:
        await meter.act(lambda: fake.user_sends_text(telegram_id, "/new"))
        # "continue in X / Y" after the first round; the first time the same data is pressed
        # on the workspace picker (a forged press, re-checked by the bot like any other)
        data = f"new:go:{project.id}:{prompt.id}"
        message = fake.last_message(telegram_id)
        forged = not any(button.callback_data == data for button in message.buttons)
        await meter.act(
            lambda m=message, d=data, f=forged: fake.user_presses(telegram_id, m, d, forged=f)
        )
        for answer in ANSWERS:
            await meter.act(lambda a=answer: fake.user_sends_text(telegram_id, a))
        message = newest_with(fake, telegram_id, "cancel")
        await meter.act(lambda m=message: fake.user_presses(telegram_id, m, "cancel"))
        cycles += 1
    return cycles


async def echo_loop(meter: Meter, telegram_id: int, until: float) -> None:
    while time.perf_counter() < until:
        await meter.act(lambda: meter.fake.user_sends_text(telegram_id, "سلام"))


def report(name: str, meter: Meter, seconds: float) -> float:
    samples = meter.latencies
    rate = len(samples) / seconds
    print(
        f"{name:<12} {len(samples):>7} updates  {rate:>8.1f} upd/s  "
        f"p50 {statistics.median(samples) * 1000:>6.1f} ms  p99 {p99(samples) * 1000:>6.1f} ms"
    )
    return rate


async def measure(meter: Meter, loops: Callable[[float], list[Any]], duration: float) -> float:
    warm_until = time.perf_counter() + min(3.0, duration / 4)
    await asyncio.gather(*loops(warm_until))
    meter.counting = True
    started = time.perf_counter()
    await asyncio.gather(*loops(started + duration))
    meter.counting = False
    return time.perf_counter() - started


async def run_contexor(url: str, users: int, duration: float) -> float:
    ids, project, prompt = await seed(users)
    async with FakeBotApi() as fake:
        fake.max_poll_seconds = 1.0
        settings = Settings(
            _env_file=None,
            database_url=url,
            redis_url=None,
            secret_key=SecretStr("bench-secret-key-that-is-long-enough-for-hs256-0123456789"),
            telegram_bot_token=SecretStr(fake.token),
            telegram_api_base_url=fake.url,
            timezone="Asia/Tehran",
        )
        services = build_services(settings)
        application = build_application(services, settings)
        meter = Meter(fake)
        application.update_processor.on_processed = meter.processed
        async with AsyncExitStack() as stack:
            stack.push_async_callback(services.aclose)
            await start_bot(stack, application, webhook=False)
            for telegram_id in ids:
                fake.add_user(telegram_id)
            seconds = await measure(
                meter,
                lambda until: [writer_loop(meter, i, project, prompt, until) for i in ids],
                duration,
            )
        return report("contexor", meter, seconds)


class _CountingProcessor(PerUserUpdateProcessor):
    """The same ordering processor, so the echo bot differs only in what it does."""


async def run_echo(users: int, duration: float) -> float:
    async with FakeBotApi() as fake:
        fake.max_poll_seconds = 1.0
        application = (
            Application.builder()
            .token(fake.token)
            .base_url(fake.base_url)
            .base_file_url(fake.base_file_url)
            .concurrent_updates(_CountingProcessor())
            .connection_pool_size(64)
            .build()
        )

        async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            assert update.effective_message is not None
            await update.effective_message.reply_text(update.effective_message.text or "")

        application.add_handler(MessageHandler(filters.TEXT, echo))
        meter = Meter(fake)
        application.update_processor.on_processed = meter.processed  # type: ignore[attr-defined]
        ids = [FIRST_TELEGRAM_ID + n for n in range(users)]
        for telegram_id in ids:
            fake.add_user(telegram_id)
        await application.initialize()
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(timeout=1)
        try:
            seconds = await measure(
                meter, lambda until: [echo_loop(meter, i, until) for i in ids], duration
            )
        finally:
            await application.updater.stop()
            await application.stop()
            await application.shutdown()
        return report("echo (PTB)", meter, seconds)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-overall-limit", action="store_true")
    args = parser.parse_args()
    if args.no_overall_limit:
        bot_app.AIORateLimiter = functools.partial(AIORateLimiter, overall_max_rate=0)  # type: ignore[misc]
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    pool = os.environ.get("BENCH_POOL_SIZE", "20")
    orm_url = f"{url}?maxsize={int(pool)}"
    limit = "off" if args.no_overall_limit else "30/s (AIORateLimiter default)"
    print(f"{args.users} users, {args.duration:.0f} s a run, db pool {pool}, overall limit {limit}")
    await create_scratch_database(url)
    await database.migrate(orm_url)
    await database.close()
    await database.init(orm_url)
    try:
        ours = await asyncio.wait_for(
            run_contexor(orm_url, args.users, args.duration), RUN_TIMEOUT_SECONDS
        )
        echo = await asyncio.wait_for(run_echo(args.users, args.duration), RUN_TIMEOUT_SECONDS)
        print(f"contexor / echo: {ours / echo:.2f}")
    finally:
        await database.close()
        if not args.keep:
            with contextlib.suppress(Exception):
                await drop_scratch_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
