"""PostgreSQL going away under a running product: 503 with the envelope, one log line, recovery.

The product runs as a real process whose ``DATABASE_URL`` goes through a TCP proxy the test
cuts (every connection dropped, new ones refused) and restores on the same port.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.api.test_openapi_fuzz import ADMIN_PHONE, _run, _sign_in
from tests.cli.test_cli import _env
from tests.support.databases import create_scratch_database, drop_scratch_database
from tests.support.proxy import CuttableProxy


@pytest.mark.postgres  # an embedded SQLite file cannot become unreachable
async def test_database_down_is_503_logged_once_and_recovers_without_restart(
    tmp_path: Path, database_url: str, redis_url: str, redis_key_prefix: str
) -> None:
    url = database_url + "_outage"
    await create_scratch_database(url)
    real = urlsplit(url)
    proxy = CuttableProxy(real.hostname or "127.0.0.1", real.port or 5432)
    await proxy.start()
    netloc = real.netloc.replace(f"{real.hostname}:{real.port}", f"127.0.0.1:{proxy.port}")
    through = real._replace(netloc=netloc).geturl()
    env = _env(
        DATABASE_URL=through,
        AUTO_MIGRATE="1",
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=redis_key_prefix,
        SECRET_KEY="outage-secret-key-long-enough-for-hs256-0123456789",
        SMS_BACKEND="file",
        SMS_OUTBOX=str(tmp_path / "outbox.jsonl"),
        API_PORT="0",
        API_WORKERS="1",  # the outage as one process sees it
    )
    await _run(tmp_path, env, "bootstrap", "--phone", ADMIN_PHONE, "--org", "Outage Org")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--no-bot", "--no-scheduler",
        cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    log: list[str] = []
    assert process.stderr is not None
    collecting = asyncio.get_running_loop().create_task(_collect(process.stderr, log))
    try:
        base = await asyncio.wait_for(_listening(log), timeout=60)
        token = await _sign_in(base, tmp_path / "outbox.jsonl")
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as session:
            assert (await session.get(f"{base}/api/contents", headers=headers)).status == 200
            await proxy.cut()
            for _ in range(3):
                response = await session.get(f"{base}/api/contents", headers=headers)
                body = await response.json()
                assert response.status == 503, body
                assert body["error"]["code"] == "service_unavailable"
                assert int(response.headers["Retry-After"]) > 0
            await proxy.restore()
            statuses = []
            for _ in range(3):  # the pool may spend one call on a connection the cut killed
                response = await session.get(f"{base}/api/contents", headers=headers)
                statuses.append(response.status)
                if response.status == 200:
                    break
            assert statuses[-1] == 200, statuses
            # healthz agrees, and the log has exactly one line each way.
            assert (await session.get(f"{base}/healthz")).status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=30)
        await asyncio.wait_for(collecting, timeout=30)
        await proxy.close()
        await drop_scratch_database(url)
    text = "\n".join(log)
    assert sum("database is unavailable" in line for line in log) == 1, text
    assert sum("database is available again" in line for line in log) == 1, text
    # No request logged a traceback of its own (asyncpg's pool may log its reconnecting).
    assert "unhandled error" not in text, text
    assert sum("[error" in line for line in log) == 1, text


async def _collect(stream: asyncio.StreamReader, log: list[str]) -> None:
    while line := await stream.readline():
        log.append(line.decode(errors="replace"))


async def _listening(log: list[str]) -> str:
    while True:
        for line in log:
            match = re.search(r"API listening on (http://\S+)", line)
            if match:
                return match.group(1)
        await asyncio.sleep(0.05)
