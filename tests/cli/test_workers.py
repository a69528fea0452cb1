"""``API_WORKERS``: real processes on one port, one bot, one scheduler, restarts, SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.texts import t
from bot.webhook import SECRET_HEADER
from bot.workers import api_worker_count
from core.settings import Settings
from tests.cli.test_cli import _contexor, _env
from tests.fakes.bot_api import FakeBotApi
from tests.support.databases import create_scratch_database, drop_scratch_database

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

LISTENING = re.compile(r"API listening on (http://\S+)")
STARTED = re.compile(r"worker (\d+) started \(pid (\d+)\)")


class Output:
    """Every stderr line of the supervisor and its workers (they share the stream), as read."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._read(process))

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        while line := await process.stderr.readline():
            async with self._changed:
                self.lines.append(line.decode(errors="replace"))
                self._changed.notify_all()

    def matching(self, pattern: re.Pattern[str] | str) -> list[re.Match[str]]:
        found = (re.search(pattern, line) for line in self.lines)
        return [match for match in found if match]

    async def until(self, pattern: re.Pattern[str] | str, count: int) -> list[re.Match[str]]:
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.matching(pattern)) >= count), timeout=60
            )
        return self.matching(pattern)


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    base = os.environ.get("TEST_DATABASE_URL", "")
    server = base if base.startswith("postgres") else "postgres://postgres@127.0.0.1:5432/x"
    url = server.rsplit("/", 1)[0] + f"/contexor_workers_{os.getpid()}"
    await create_scratch_database(url)
    try:
        status, _, err = await _contexor(tmp_path, "migrate", DATABASE_URL=url)
        assert status == 0, err
        yield url
    finally:
        await drop_scratch_database(url)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.asynccontextmanager
async def two_workers(
    tmp_path: Path, fake: FakeBotApi, database_url: str, redis_url: str, **env: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, Output]]:
    """``contexor run`` with ``API_WORKERS=2`` and the bot on ``fake``; killed if a test fails."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=tmp_path,
        env=_env(
            API_PORT="0",
            API_WORKERS="2",
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            TELEGRAM_BOT_TOKEN=fake.token,
            TELEGRAM_API_BASE_URL=fake.url,
            PTB_TIMEDELTA="1",
            **env,
        ),
        stderr=asyncio.subprocess.PIPE,
    )
    output = Output(process)
    try:
        yield process, output
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        with contextlib.suppress(Exception):
            await output._task


async def stop_all(process: asyncio.subprocess.Process, output: Output) -> None:
    """SIGTERM to the supervisor stops every worker it started, each cleanly."""
    workers = [int(m.group(2)) for m in output.matching(STARTED)]
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), timeout=60) == 0
    assert not [pid for pid in workers if _alive(pid)]
    assert len(output.matching(r"worker \d stopped \(exit 0\)")) == 2


async def test_two_workers_share_the_port_run_one_bot_and_scheduler_and_restart(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    async with (
        FakeBotApi() as fake,
        two_workers(tmp_path, fake, database_url, redis_url) as (process, output),
    ):
        await output.until("contexor is running", 2)
        urls = {match.group(1) for match in output.matching(LISTENING)}
        assert len(urls) == 1, urls  # both workers on the one port
        [url] = urls
        assert len(output.matching("Telegram bot polling for updates")) == 1
        assert len(output.matching("scheduler started")) == 1
        pids = {int(m.group(1)): int(m.group(2)) for m in output.matching(STARTED)}
        assert sorted(pids) == [0, 1]

        async with aiohttp.ClientSession() as session:
            for _ in range(10):
                async with session.get(f"{url}/healthz") as response:
                    assert response.status == 200

            os.kill(pids[1], signal.SIGKILL)  # a crash: the supervisor starts another
            restarted = await output.until(STARTED, 3)
            assert (restarted[-1].group(1), int(restarted[-1].group(2))) != ("1", pids[1])
            await output.until("contexor is running", 3)
            for _ in range(10):
                async with session.get(f"{url}/healthz") as response:
                    assert response.status == 200
        # The bot and the scheduler stayed in worker 0: the restarted worker runs neither.
        assert len(output.matching("Telegram bot polling for updates")) == 1
        assert len(output.matching("scheduler started")) == 1

        await stop_all(process, output)


def test_workers_default_to_the_core_count_only_with_postgres_and_redis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    postgres = "postgres://u@127.0.0.1/x"
    base = {"_env_file": None, "secret_key": "k" * 40, "playground": False}
    shared = {**base, "database_url": postgres, "redis_url": "redis://r"}
    assert api_worker_count(Settings(**shared)) == 2
    assert api_worker_count(Settings(**shared, api_workers=3)) == 3
    assert api_worker_count(Settings(**shared, api_workers=1)) == 1
    webhook = {**shared, "telegram_webhook_url": "https://bot.example.test/hook"}
    assert api_worker_count(Settings(**webhook)) == 2  # every worker takes Telegram's POSTs
    # One process where state would split: SQLite, no Redis, the playground.
    assert api_worker_count(Settings(**base, database_url=postgres, api_workers=3)) == 1
    sqlite = {**base, "database_url": "sqlite:///x.db", "redis_url": "redis://r"}
    assert api_worker_count(Settings(**sqlite, api_workers=3)) == 1
    playground = {**shared, "playground": None}
    assert api_worker_count(Settings(**playground, api_workers=3)) == 1


HOOK_SECRET = "workers-webhook-secret_0123"


async def test_webhook_mode_every_worker_takes_updates_and_sigterm_stops_them_all(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    """Webhook mode with leadership: Telegram's POST may land on any worker (the kernel picks),
    each queues it for worker 0's bot, and SIGTERM still stops every process cleanly."""
    webhook = {
        "TELEGRAM_WEBHOOK_URL": "https://bot.example.test/tg/hook",
        "TELEGRAM_WEBHOOK_SECRET": HOOK_SECRET,
        "REDIS_KEY_PREFIX": f"test:{uuid.uuid4().hex[:12]}:",  # its own stream and seen ids
    }
    async with (
        FakeBotApi() as fake,
        two_workers(tmp_path, fake, database_url, redis_url, **webhook) as (process, output),
    ):
        await output.until("contexor is running", 2)
        await output.until(r"leads the bot \(lease token", 1)
        [url] = {match.group(1) for match in output.matching(LISTENING)}
        users = range(410_001, 410_011)
        # A new connection per POST, so the kernel spreads them over both workers.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            for n, user in enumerate(users):
                message = fake.user_sends_text(user, "/help")
                payload = {"update_id": 9000 + n, "message": message.to_json()}
                headers = {SECRET_HEADER: HOOK_SECRET}
                async with session.post(
                    f"{url}/tg/hook", json=payload, headers=headers
                ) as response:
                    assert response.status == 200
                async with session.post(f"{url}/tg/hook", json=payload) as response:
                    assert response.status == 403
        for user in users:
            await fake.wait_for_calls("sendMessage", 1, chat_id=user, timeout=30)
        assert [fake.messages(u, from_bot=True)[0].text for u in users] == [
            t("fa", "bot.help.unlinked")
        ] * len(users)

        await stop_all(process, output)
        assert len(output.matching("bot lease released")) == 1
