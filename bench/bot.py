"""Telegram bot benchmark: simulated writers pressing menus and answering questions.

Run: ``.venv/bin/python -m bench.bot`` (PostgreSQL must be running; it creates and drops the
database named by ``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/contexor_bench_bot``). It

1. seeds one organisation with a workspace, a project, a prompt of three questions (text,
   number, choice) and ``--users`` linked writers;
2. starts the fake Bot API (``tests/fakes/bot_api.py``) and the load in this process, and the
   real bot (``bot.app.build_application``, long polling, as ``contexor run`` starts it) in a
   child process of its own, so what is measured is the bot's process, not the fake's;
3. runs every simulated user in a closed loop for ``--duration`` seconds: ``/new``, "continue
   in X / Y" (or the pickers the first time), three answers, Cancel; each next update is
   sent once the bot finished the previous one;
4. does the same with a bare PTB echo bot (a ``MessageHandler`` answering with the text, the
   same fake, the same processor), also in a child process, for comparison;
5. prints updates handled per second, p50/p99 from an update's arrival at the fake to the end
   of its handling (the bot's answers are sent inside the handling; the child reports the end
   by a loopback datagram), and the bot process's CPU time per update.

Options: ``--users N`` (default 50), ``--duration S`` (default 15), ``--keep``, and
``--no-overall-limit``, which also lifts the overall 30 a second of the bot's rate limiter for
the sends the bot starts itself (bench only; replies never wait on it, ``bot/pacing.py``), to
show that the limiter no longer bounds the handling. The machine's cores are shared with the
fake and the load (and whatever else runs), so the numbers are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import socket
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from subprocess import PIPE
from typing import Any

from pydantic import SecretStr
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

import bot.app as bot_app
import db as database
from bench.measure import p99
from bot import heap
from bot.app import build_application
from bot.pacing import ReplyAwareRateLimiter
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
    """Arrival time per update id, and the latency of each one the bot reports handled."""

    def __init__(self, fake: FakeBotApi) -> None:
        self.fake = fake
        self.sent: dict[int, float] = {}
        self.waiters: dict[int, asyncio.Future[None]] = {}
        self.latencies: list[float] = []
        self.counting = False

    def processed(self, update_id: int) -> None:
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


class _Notices(asyncio.DatagramProtocol):
    """Update ids the bot process reports handled, one datagram each."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.meter.processed(int(data))


class BotProcess:
    """The bot (``contexor`` or ``echo``) in a child process against the fake at ``url``."""

    def __init__(self, kind: str, fake: FakeBotApi, database_url: str, *, no_limit: bool) -> None:
        self.kind, self.fake, self.database_url, self.no_limit = kind, fake, database_url, no_limit
        self.meter = Meter(fake)
        self._process: asyncio.subprocess.Process | None = None
        self._transport: asyncio.DatagramTransport | None = None

    async def __aenter__(self) -> BotProcess:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Notices(self.meter), local_addr=("127.0.0.1", 0)
        )
        self._transport = transport
        port = transport.get_extra_info("sockname")[1]
        argv = [sys.executable, "-m", "bench.bot", "--serve", self.kind, "--api-url"]
        argv += [self.fake.url, "--token", self.fake.token, "--notify-port", str(port)]
        argv += ["--database-url", self.database_url]
        if self.no_limit:
            argv.append("--no-overall-limit")
        self._process = await asyncio.create_subprocess_exec(*argv, stdout=PIPE)
        line = await asyncio.wait_for(self._line(), 60)
        if line != "ready":
            raise RuntimeError(f"the {self.kind} bot did not start: {line!r}")
        return self

    async def _line(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        return (await self._process.stdout.readline()).decode().strip()

    async def cpu_seconds(self) -> float:
        """The child's CPU time so far (it answers SIGUSR1 with one line)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGUSR1)
        return float((await asyncio.wait_for(self._line(), 30)).split()[1])

    async def __aexit__(self, *_: object) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self._process.wait(), 60)
        if self._transport is not None:
            self._transport.close()


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


def report(name: str, meter: Meter, run: Run) -> float:
    samples = meter.latencies
    rate = len(samples) / run.seconds
    print(
        f"{name:<12} {len(samples):>7} updates  {rate:>8.1f} upd/s  "
        f"p50 {statistics.median(samples) * 1000:>6.1f} ms  p99 {p99(samples) * 1000:>6.1f} ms\n"
        f"{'':<12} CPU per update: bot {run.bot_cpu / len(samples) * 1000:.2f} ms "
        f"({run.bot_cpu / run.seconds * 100:.0f}% of a core), fake and load "
        f"{run.own_cpu / len(samples) * 1000:.2f} ms ({run.own_cpu / run.seconds * 100:.0f}%)"
    )
    return rate


@dataclass(frozen=True)
class Run:
    """One measured run: wall seconds, and CPU seconds of the bot's process and of this one."""

    seconds: float
    bot_cpu: float
    own_cpu: float


async def measure(bot: BotProcess, loops: Callable[[float], list[Any]], duration: float) -> Run:
    """Warm up, then run ``loops`` for ``duration``."""
    warm_until = time.perf_counter() + min(3.0, duration / 4)
    await asyncio.gather(*loops(warm_until))
    bot_before, own_before = await bot.cpu_seconds(), time.process_time()
    bot.meter.counting = True
    started = time.perf_counter()
    await asyncio.gather(*loops(started + duration))
    bot.meter.counting = False
    seconds = time.perf_counter() - started
    own = time.process_time() - own_before
    return Run(seconds, await bot.cpu_seconds() - bot_before, own)


async def run_contexor(url: str, users: int, duration: float, *, no_limit: bool) -> float:
    ids, project, prompt = await seed(users)
    async with FakeBotApi() as fake:
        fake.max_poll_seconds = 1.0
        for telegram_id in ids:
            fake.add_user(telegram_id)
        async with BotProcess("contexor", fake, url, no_limit=no_limit) as bot:
            meter = bot.meter
            run = await measure(
                bot,
                lambda until: [writer_loop(meter, i, project, prompt, until) for i in ids],
                duration,
            )
        return report("contexor", meter, run)


async def run_echo(users: int, duration: float) -> float:
    async with FakeBotApi() as fake:
        fake.max_poll_seconds = 1.0
        ids = [FIRST_TELEGRAM_ID + n for n in range(users)]
        for telegram_id in ids:
            fake.add_user(telegram_id)
        async with BotProcess("echo", fake, "", no_limit=False) as bot:
            meter = bot.meter
            run = await measure(
                bot, lambda until: [echo_loop(meter, i, until) for i in ids], duration
            )
        return report("echo (PTB)", meter, run)


# -- the child process: one bot, reporting each handled update ------------------------------


def _notifier(port: int) -> Callable[[object], None]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)

    def processed(update: object) -> None:
        update_id = getattr(update, "update_id", None)
        if update_id is not None:
            sock.sendto(str(update_id).encode(), ("127.0.0.1", port))

    return processed


def _echo_application(api_url: str, token: str) -> Application:
    application = (
        Application.builder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .concurrent_updates(PerUserUpdateProcessor())
        .connection_pool_size(64)
        .build()
    )

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(update.effective_message.text or "")

    application.add_handler(MessageHandler(filters.TEXT, echo))
    return application


async def _serve_until_stopped(
    application: Application, stack: AsyncExitStack, *, ours: bool
) -> None:
    if ours:
        await start_bot(stack, application, webhook=False)
    else:
        await application.initialize()
        stack.push_async_callback(application.shutdown)
        await application.start()
        stack.push_async_callback(application.stop)
        assert application.updater is not None
        await application.updater.start_polling(timeout=1)
        stack.push_async_callback(application.updater.stop)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: print(f"cpu {time.process_time()}", flush=True))
    print("ready", flush=True)
    await stop.wait()


async def serve(args: argparse.Namespace) -> int:
    """The child: ``--serve contexor`` (the product's bot) or ``--serve echo``."""
    if args.no_overall_limit:
        bot_app.ReplyAwareRateLimiter = functools.partial(  # type: ignore[misc]
            ReplyAwareRateLimiter, overall_max_rate=0
        )
    async with AsyncExitStack() as stack:
        if args.serve == "echo":
            application = _echo_application(args.api_url, args.token)
        else:
            await database.init(args.database_url)
            stack.push_async_callback(database.close)
            settings = Settings(
                _env_file=None,
                database_url=args.database_url,
                redis_url=None,
                secret_key=SecretStr("bench-secret-key-that-is-long-enough-for-hs256-0123456789"),
                telegram_bot_token=SecretStr(args.token),
                telegram_api_base_url=args.api_url,
                timezone="Asia/Tehran",
            )
            services = build_services(settings)
            stack.push_async_callback(services.aclose)
            application = build_application(services, settings)
        application.update_processor.on_processed = _notifier(args.notify_port)  # type: ignore[attr-defined]
        heap.settle()  # as ``contexor run`` does before it serves (both bots, to compare alike)
        await _serve_until_stopped(application, stack, ours=args.serve != "echo")
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-overall-limit", action="store_true")
    # The child process's own arguments (set by BotProcess).
    parser.add_argument("--serve", choices=("contexor", "echo"), help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--notify-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    return parser.parse_args()


async def main(args: argparse.Namespace) -> int:
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    if args.serve:
        return await serve(args)
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    pool = os.environ.get("BENCH_POOL_SIZE", "20")
    orm_url = f"{url}?maxsize={int(pool)}"
    limit = "off" if args.no_overall_limit else "30/s for bot-initiated sends, none for replies"
    print(f"{args.users} users, {args.duration:.0f} s a run, db pool {pool}, overall limit {limit}")
    await create_scratch_database(url)
    await database.migrate(orm_url)
    await database.close()
    await database.init(orm_url)
    try:
        ours = await asyncio.wait_for(
            run_contexor(orm_url, args.users, args.duration, no_limit=args.no_overall_limit),
            RUN_TIMEOUT_SECONDS,
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
    sys.exit(asyncio.run(main(_arguments())))
