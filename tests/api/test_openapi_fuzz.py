"""schemathesis against the running product's own ``/api/openapi.json``, with a real token.

The product runs as a real process on PostgreSQL; schemathesis generates requests for every
documented operation, including stateful sequences that follow the document's links, and runs
every check: no 5xx, every answer matches its documented status, headers and schema, and the
server enforces what the document says (schema-violating requests refused, schema-valid ones
accepted; ``tests/api/schemathesis.toml`` names the few rules a schema cannot state). The example
count is bounded so the run stays well under a minute; raise ``FUZZ_EXAMPLES`` for a deep run.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.cli.test_cli import _env
from tests.support.databases import create_scratch_database, drop_scratch_database

ADMIN_PHONE = "+989121110000"
# Every check schemathesis has except max_response_time: speed is measured in bench/, never
# asserted in a test (a loaded machine is not a bug).
ALL_CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance,negative_data_rejection,"
    "positive_data_acceptance,missing_required_header,unsupported_method,"
    "allow_header_conformance,use_after_free,ensure_resource_availability,ignored_auth"
)
CHECKS = os.environ.get("FUZZ_CHECKS", ALL_CHECKS)
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture
async def product(tmp_path: Path, database_url: str, redis_url: str | None, redis_key_prefix: str):
    """``contexor run --no-bot`` on a scratch database with a bootstrapped organisation."""
    url = database_url if database_url.startswith("sqlite") else database_url + "_fuzz"
    await create_scratch_database(url)
    env = _env(
        DATABASE_URL=url,
        AUTO_MIGRATE="1",
        REDIS_URL=redis_url or "",  # empty: no Redis, the embedded default
        REDIS_KEY_PREFIX=redis_key_prefix,
        SECRET_KEY="fuzz-secret-key-long-enough-for-hs256-0123456789",
        SMS_BACKEND="file",
        SMS_OUTBOX=str(tmp_path / "outbox.jsonl"),
        API_PORT="0",
        API_WORKERS="1",
        OTP_REQUEST_RATE="1000/minute",
        OTP_VERIFY_RATE="1000/minute",
    )
    await _run(tmp_path, env, "bootstrap", "--phone", ADMIN_PHONE, "--org", "Fuzz Org")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--no-bot", "--no-scheduler",
        cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = await asyncio.wait_for(_listening_url(process), timeout=60)
        yield base, await _sign_in(base, tmp_path / "outbox.jsonl")
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=30)
        if not url.startswith("sqlite"):
            await drop_scratch_database(url)


async def test_no_operation_answers_5xx_or_breaks_its_schema(product, tmp_path: Path) -> None:
    base, token = product
    schemathesis = Path(sys.executable).with_name("schemathesis")
    process = await asyncio.create_subprocess_exec(
        str(schemathesis), "--config-file", str(CONFIG), "run", f"{base}/api/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", CHECKS,
        "--phases", os.environ.get("FUZZ_PHASES", "examples,fuzzing,stateful"),
        "--max-examples", os.environ.get("FUZZ_EXAMPLES", "5"),
        "--seed", "1",
        "--workers", "2",
        "--request-timeout", "20",
        "--suppress-health-check", "all",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout=600)
    report = output.decode(errors="replace")
    print(report[-3000:])  # the summary, shown with -s or on failure
    assert process.returncode == 0, report[-6000:]
    assert re.search(r"\b\d+ (passed|operations)", report), report[-2000:]


async def _run(cwd: Path, env: dict[str, str], *args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, (out, err)


async def _listening_url(process: asyncio.subprocess.Process) -> str:
    assert process.stderr is not None
    while line := await process.stderr.readline():
        match = re.search(r"API listening on (http://\S+)", line.decode())
        if match:
            asyncio.get_running_loop().create_task(_drain(process.stderr))
            return match.group(1)
    raise AssertionError("the API never said where it listens")


async def _drain(stream: asyncio.StreamReader) -> None:
    """Keep reading the server's log so its pipe never fills and blocks it."""
    while await stream.readline():
        pass


async def _sign_in(base: str, outbox: Path) -> str:
    async with aiohttp.ClientSession() as session:
        request = {"phone_number": ADMIN_PHONE}
        sent = await session.post(f"{base}/api/auth/otp/request", json=request)
        assert sent.status == 200, await sent.text()
        lines = (await asyncio.to_thread(outbox.read_text)).splitlines()
        code = json.loads(lines[-1])["code"]
        verified = await session.post(
            f"{base}/api/auth/otp/verify", json={"phone_number": ADMIN_PHONE, "code": code}
        )
        assert verified.status == 200, await verified.text()
        return (await verified.json())["access"]
