"""The ``contexor`` command as an operator runs it: a real process, real exit codes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp

from tests.support.databases import create_scratch_database, drop_scratch_database

CLEAN_ENV_PREFIXES = (
    "CONTEXOR_",
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "SMS_",
    "LLM_",
    "OPENAI_",
    "TELEGRAM_",
    "KAVENEGAR_",
    "API_",
    "PHONE_",
)


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEAN_ENV_PREFIXES)}
    env.update(overrides)
    return env


async def _contexor(cwd: Path, *args: str, **env: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=_env(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode, out.decode(), err.decode()


async def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    status, _, err = await _contexor(tmp_path, "bootstrap", "--org", "X")
    assert status == 2
    assert "--phone" in err


async def test_production_without_secret_key_exits_1_naming_it(tmp_path: Path) -> None:
    status, _, err = await _contexor(tmp_path, "migrate", CONTEXOR_ENV="production")
    assert status == 1
    lines = [line for line in err.splitlines() if line.startswith("contexor:")]
    assert len(lines) == 1
    for variable in ("SECRET_KEY", "REDIS_URL", "DATABASE_URL", "SMS_BACKEND", "LLM_BACKEND"):
        assert variable in lines[0]


async def test_invalid_setting_exits_2(tmp_path: Path) -> None:
    status, _, err = await _contexor(tmp_path, "migrate", TIMEZONE="Mars/Olympus")
    assert status == 2
    assert "TIMEZONE" in err


async def test_migrate_creates_a_fresh_sqlite_file_twice(tmp_path: Path) -> None:
    for _ in range(2):
        status, out, err = await _contexor(tmp_path, "migrate")
        assert status == 0, err
        assert "migrations applied" in out
    assert (tmp_path / "data" / "contexor.sqlite3").stat().st_size > 0


async def test_migrate_on_an_empty_postgres_database(tmp_path: Path) -> None:
    # Always PostgreSQL (the server of TEST_DATABASE_URL, or the default test server), even
    # when the rest of the session runs on SQLite.
    base = os.environ.get("TEST_DATABASE_URL", "")
    server = base if base.startswith("postgres") else "postgres://postgres@127.0.0.1:5432/x"
    url = server.rsplit("/", 1)[0] + f"/contexor_cli_{os.getpid()}"
    await create_scratch_database(url)
    try:
        status, _, err = await _contexor(tmp_path, "migrate", DATABASE_URL=url)
        assert status == 0, err
    finally:
        await drop_scratch_database(url)


async def test_jobs_list_and_unknown_job(tmp_path: Path) -> None:
    status, out, _ = await _contexor(tmp_path, "jobs", "list")
    assert status == 0
    assert "cleanup_expired_otps" in out
    status, _, err = await _contexor(tmp_path, "jobs", "run", "no_such_job")
    assert status == 2
    assert "no_such_job" in err


async def test_jobs_run_runs_a_job_on_the_embedded_default(tmp_path: Path) -> None:
    status, out, _ = await _contexor(tmp_path, "jobs", "list")
    assert status == 0
    line = next(line for line in out.splitlines() if line.startswith("cleanup_expired_otps"))
    assert "never run" in line
    status, out, err = await _contexor(tmp_path, "jobs", "run", "cleanup_expired_otps")
    assert status == 0, err
    assert '"deleted": 0' in out
    status, out, _ = await _contexor(tmp_path, "jobs", "list")
    line = next(line for line in out.splitlines() if line.startswith("cleanup_expired_otps"))
    assert ' ok {"deleted": 0}' in line
    assert "never run" not in line


async def test_run_serves_healthz_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--no-bot",
        cwd=tmp_path,
        env=_env(API_PORT="0"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        url = await asyncio.wait_for(_listening_url(process), timeout=30)
        async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz") as response:
            assert response.status == 200
            assert (await response.json())["database"] == "ok"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _listening_url(process: asyncio.subprocess.Process) -> str:
    assert process.stderr is not None
    while line := await process.stderr.readline():
        match = re.search(r"API listening on (http://\S+)", line.decode())
        if match:
            return match.group(1)
    raise AssertionError("the API never said where it listens")


BOOTSTRAP_TABLES = ("organizations", "users", "memberships", "workspaces", "projects", "prompts")


def _row_counts(sqlite_file: Path) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(sqlite_file) as conn:
        # Table names are the constants above, never input.
        query = "SELECT COUNT(*) FROM {}"
        return {t: conn.execute(query.format(t)).fetchone()[0] for t in BOOTSTRAP_TABLES}


async def test_bootstrap_twice_leaves_the_same_rows(tmp_path: Path) -> None:
    args = ("bootstrap", "--phone", "۰۹۱۲ ۱۲۳ ۴۵۶۷", "--org", "شرکت نمونه", "--name", "Admin")
    status, first, err = await _contexor(tmp_path, *args)
    assert status == 0, err
    counts = _row_counts(tmp_path / "data" / "contexor.sqlite3")
    status, second, err = await _contexor(tmp_path, *args)
    assert status == 0, err
    assert _row_counts(tmp_path / "data" / "contexor.sqlite3") == counts
    assert counts["organizations"] == counts["users"] == counts["memberships"] == 1
    assert counts["workspaces"] == counts["projects"] == 1
    assert counts["prompts"] >= 12  # six built-ins, each in Persian and English
    assert '"created_organization": true' in first
    assert '"created_organization": false' in second
    assert '"prompts_added": 0' in second
    assert "+989121234567" in second


async def test_bootstrap_refuses_a_landline_with_exit_2(tmp_path: Path) -> None:
    status, _, err = await _contexor(tmp_path, "bootstrap", "--phone", "02112345678", "--org", "X")
    assert status == 2
    assert err.startswith("contexor: ")


async def test_run_with_a_token_starts_the_bot_against_the_bot_api(tmp_path: Path) -> None:
    from tests.fakes.bot_api import FakeBotApi

    async with FakeBotApi() as fake:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--no-scheduler",
            cwd=tmp_path,
            env=_env(
                API_PORT="0",
                TELEGRAM_BOT_TOKEN=fake.token,
                TELEGRAM_API_BASE_URL=fake.url,
                PTB_TIMEDELTA="1",
            ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await fake.wait_for_calls("getUpdates", timeout=30)
            assert fake.calls_to("deleteWebhook")  # polling mode clears any webhook first
            fake.user_sends_text(4242, "/start")
            await fake.wait_for_calls("sendMessage", chat_id=4242, timeout=30)
            assert fake.last_text(4242).startswith("به کانتکسور خوش آمدید")
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), timeout=30) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def test_bootstrap_follows_phone_regions(tmp_path: Path) -> None:
    foreign = ("bootstrap", "--phone", "+12015550123", "--org", "X")
    status, _, err = await _contexor(tmp_path, *foreign)
    assert status == 2 and "country" in err
    status, out, _ = await _contexor(tmp_path, *foreign, PHONE_REGIONS="IR,US")
    assert status == 0 and "+12015550123" in out
