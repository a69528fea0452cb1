"""The ``contexor`` command as an operator runs it: a real process, real exit codes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
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
    "DATA_DIR",
    "PLAYGROUND",
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
    status, out, err = await _contexor(tmp_path, "migrate")
    assert status == 0, err
    assert re.match(r"applied \d+ migration\(s\) to SQLite .*: models\.0001_initial, ", out)
    status, out, err = await _contexor(tmp_path, "migrate")
    assert status == 0, err
    assert "up to date; no migration to apply" in out
    assert (tmp_path / "data" / "contexor.sqlite3").stat().st_size > 0


async def test_the_embedded_files_live_under_data_dir_not_the_working_directory(
    tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    status, out, err = await _contexor(tmp_path, "migrate", DATA_DIR=str(elsewhere))
    assert status == 0, err
    assert str(elsewhere / "contexor.sqlite3") in out
    assert (elsewhere / "contexor.sqlite3").exists() and not (tmp_path / "data").exists()


async def test_startup_failures_are_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        cases = {
            "a busy port": {"API_PORT": port},
            "openai without a key": {"LLM_BACKEND": "openai", "API_PORT": "0"},
            "an unreachable database": {
                "DATABASE_URL": "postgres://contexor:secret@127.0.0.1:1/contexor",
                "DATABASE_WAIT_SECONDS": "2",  # waited for (a line per try), then given up
                "API_PORT": "0",
            },
        }
        for case, env in cases.items():
            status, _, err = await _contexor(tmp_path, "run", "--no-scheduler", **env)
            failure = [line for line in err.splitlines() if not line.startswith("20")]
            assert status == 1, (case, err)
            assert len(failure) == 1 and failure[0].startswith("contexor: "), (case, err)
            assert "Traceback" not in err and "secret" not in err, (case, err)
    assert port in cases["a busy port"]["API_PORT"]


async def test_sigterm_ends_the_wait_for_the_database_at_once(tmp_path: Path) -> None:
    """A container stopped while its database is still down exits now, not after the wait."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--no-scheduler",
        cwd=tmp_path,
        env=_env(
            DATABASE_URL="postgres://contexor:secret@127.0.0.1:1/contexor",
            DATABASE_WAIT_SECONDS="300",
            API_PORT="0",
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await asyncio.wait_for(_lines_until(process, "database unreachable (try 2"), timeout=60)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
        assert process.stderr is not None
        rest = (await process.stderr.read()).decode()
        assert "stopped while waiting for the database" in rest
        assert "Traceback" not in rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_every_database_command_fails_in_one_line_when_the_database_is_down(
    tmp_path: Path,
) -> None:
    down = {"DATABASE_URL": "postgres://contexor:secret@127.0.0.1:1/contexor"}
    commands = [
        ("jobs", "list"),
        ("jobs", "run", "cleanup_expired_otps"),
        ("bootstrap", "--phone", "09121234567", "--org", "Acme"),
        ("migrate",),
    ]
    for command in commands:
        status, _, err = await _contexor(tmp_path, *command, **down)
        failure = [line for line in err.splitlines() if not line.startswith("20")]
        assert status == 1, (command, err)
        assert len(failure) == 1 and failure[0].startswith("contexor: "), (command, err)
        assert "Traceback" not in err and "secret" not in err, (command, err)


async def test_production_refuses_the_playground(tmp_path: Path) -> None:
    status, _, err = await _contexor(tmp_path, "migrate", CONTEXOR_ENV="production", PLAYGROUND="1")
    assert status == 1 and "PLAYGROUND is on" in err


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
        async with aiohttp.ClientSession() as session, session.get(f"{url}/readyz") as response:
            assert response.status == 200
            assert (await response.json())["database"] == "ok"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_run_on_the_embedded_defaults_serves_the_playground(tmp_path: Path) -> None:
    """A fresh machine: no token, development. The page answers, the bot answers on it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--no-scheduler",
        cwd=tmp_path,
        env=_env(API_PORT="0", PTB_TIMEDELTA="1"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        lines = await asyncio.wait_for(_lines_until(process, "playground: open"), timeout=60)
        start = next(line for line in lines if "starting contexor:" in line)
        for named in ("database SQLite", "SMS console", "model offline", "bot playground"):
            assert named in start
        assert f"data in {tmp_path / 'data'}" in start
        page = re.search(r"open (http://\S+/playground)", lines[-1]).group(1)
        async with aiohttp.ClientSession() as session:
            async with session.get(page) as response:
                assert response.status == 200 and "<title>" in await response.text()
            api = page + "/api"
            async with session.post(f"{api}/send", json={"user": 910003, "text": "/start"}) as r:
                assert r.status == 200
            for _ in range(100):  # the bot's answer arrives through the local Bot API
                async with session.get(f"{api}/chat", params={"user": 910003}) as response:
                    chat = await response.json()
                if any(m["from_bot"] for m in chat["messages"]):
                    break
                await asyncio.sleep(0.2)
            assert chat["reply_keyboard"][0][0]["request_contact"] is True
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _lines_until(process: asyncio.subprocess.Process, marker: str) -> list[str]:
    assert process.stderr is not None
    lines = []
    while line := await process.stderr.readline():
        lines.append(line.decode())
        if marker in lines[-1]:
            return lines
    raise AssertionError(f"never logged {marker!r}: {''.join(lines)}")


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


async def test_user_and_org_deactivate_and_activate(tmp_path: Path) -> None:
    """An operator switches a user (ending their sessions) and an organisation off and on; an
    unknown one is one line and exit 1."""
    import json
    import sqlite3

    boot = ("bootstrap", "--phone", "09121234567", "--org", "شرکت نمونه")
    status, out, err = await _contexor(tmp_path, *boot)
    assert status == 0, err
    slug = json.loads(out)["organization"]["slug"]
    database = tmp_path / "data" / "contexor.sqlite3"

    def active(table: str) -> int:
        with sqlite3.connect(database) as conn:
            # Table names are the literals below, never input.
            return conn.execute(f"SELECT is_active FROM {table}").fetchone()[0]  # noqa: S608

    status, out, err = await _contexor(tmp_path, "user", "deactivate", "--phone", "۰۹۱۲۱۲۳۴۵۶۷")
    assert status == 0, err
    assert json.loads(out) == {"user": 1, "phone_number": "+989121234567", "active": False}
    assert active("users") == 0
    status, out, err = await _contexor(tmp_path, "user", "activate", "--phone", "+989121234567")
    assert (status, json.loads(out)["active"], active("users")) == (0, True, 1)

    status, out, err = await _contexor(tmp_path, "org", "deactivate", "--slug", slug)
    assert (status, json.loads(out)["active"], active("organizations")) == (0, False, 0)
    status, out, err = await _contexor(tmp_path, "org", "activate", "--slug", slug)
    assert (status, json.loads(out)["active"], active("organizations")) == (0, True, 1)

    status, _, err = await _contexor(tmp_path, "user", "deactivate", "--phone", "09350000000")
    assert (status, err) == (1, "contexor: No user has this phone number.\n")
    status, _, err = await _contexor(tmp_path, "org", "deactivate", "--slug", "no-such-org")
    assert (status, err) == (1, "contexor: No organisation has this slug.\n")
