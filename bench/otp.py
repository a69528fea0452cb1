"""OTP benchmark: verifies per second, and whether hashing blocks the event loop.

Run: ``.venv/bin/python -m bench.otp`` (PostgreSQL must be running; it creates and drops the
database named by ``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/contexor_bench``). It serves the real app on a loopback
port and measures, over HTTP:

1. verifies per second: right codes for fresh phones, 20 at a time (each one hashes once,
   creates the user and issues tokens);
2. the p99 latency of ``GET /healthz`` when idle, and while 20 verifies run concurrently
   without pause. Codes are HMAC-SHA256 (microseconds, on the loop); the legacy PBKDF2 rate is
   printed for reference (``core/security/otp.py``).
Every loop is bounded; the whole run takes well under a minute and stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

import db as database
from bench.measure import LoopLag, p99
from core.api.app import create_app
from core.container import Services, build_services
from core.security.otp import OtpHasher, new_salt
from core.settings import Settings
from tests.support.databases import create_scratch_database, drop_scratch_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/contexor_bench"
CONCURRENCY = 20
VERIFY_PHONES = 200
HEALTH_SAMPLES = 400
HEALTH_PAUSE_SECONDS = 0.01  # paced sampling: both phases span a few seconds, not a burst
LOAD_ROUNDS_CAP = 400  # per load worker; the load stops earlier, when sampling is done
HASH_SAMPLES = 20


@dataclass
class CapturingSms:
    """Keeps the last code per phone instead of sending it."""

    codes: dict[str, str] = field(default_factory=dict)

    async def send_otp(self, *, phone: str, code: str, language: str) -> None:
        self.codes[phone] = code

    async def aclose(self) -> None:
        pass


def phone(n: int) -> str:
    return f"+98912{n:07d}"


async def issue_codes(services: Services, phones: list[str]) -> None:
    for number in phones:
        await services.auth.request_code(number, client_address="127.0.0.1", language="fa")


async def verify(session: aiohttp.ClientSession, url: str, number: str, code: str) -> int:
    async with session.post(url, json={"phone_number": number, "code": code}) as response:
        await response.read()
        return response.status


async def measure_verifies(
    session: aiohttp.ClientSession, base: str, sms: CapturingSms, phones: list[str]
) -> tuple[float, int]:
    """(verifies per second, failures) for right codes, CONCURRENCY at a time."""
    gate = asyncio.Semaphore(CONCURRENCY)
    url = base + "/api/auth/otp/verify"

    async def one(number: str) -> int:
        async with gate:
            return await verify(session, url, number, sms.codes[number])

    started = time.perf_counter()
    statuses = await asyncio.gather(*(one(n) for n in phones))
    elapsed = time.perf_counter() - started
    return len(phones) / elapsed, sum(status != 200 for status in statuses)


async def sample_health(session: aiohttp.ClientSession, base: str) -> list[float]:
    latencies = []
    for _ in range(HEALTH_SAMPLES):
        started = time.perf_counter()
        async with session.get(base + "/healthz") as response:
            await response.read()
            assert response.status == 200, response.status
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(HEALTH_PAUSE_SECONDS)
    return latencies


async def health_under_load(
    session: aiohttp.ClientSession, base: str, sms: CapturingSms, phones: list[str]
) -> tuple[list[float], int]:
    """/healthz latencies while CONCURRENCY workers keep verifying (wrong codes, unlimited)."""
    stop = asyncio.Event()
    done = 0
    url = base + "/api/auth/otp/verify"

    async def worker(number: str) -> None:
        nonlocal done
        wrong = "".join(str((int(d) + 1) % 10) for d in sms.codes[number])
        for _ in range(LOAD_ROUNDS_CAP):
            if stop.is_set():
                return
            await verify(session, url, number, wrong)
            done += 1

    workers = [asyncio.create_task(worker(n)) for n in phones]
    await asyncio.sleep(0.5)  # let the load reach its steady state before sampling
    try:
        latencies = await sample_health(session, base)
    finally:
        stop.set()
        await asyncio.gather(*workers)
    return latencies, done


def hash_rates() -> tuple[float, float]:
    """(HMAC, legacy PBKDF2) hashes per second on one core, for reference."""
    hasher = OtpHasher(b"k" * 64)
    try:
        started = time.perf_counter()
        for _ in range(HASH_SAMPLES * 1000):
            hasher.hash("123456", new_salt(), "+989120000000")
        current = HASH_SAMPLES * 1000 / (time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(HASH_SAMPLES):
            hasher.legacy_hash("123456", new_salt())
        return current, HASH_SAMPLES / (time.perf_counter() - started)
    finally:
        hasher.close()


async def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    await create_scratch_database(url)
    await database.migrate(url)
    await database.close()
    await database.init(url)
    settings = Settings(
        _env_file=None,
        database_url=url,
        redis_url=None,
        secret_key="bench-secret-key-that-is-long-enough-for-hs256-0123456789",
        otp_request_rate="1000000/minute",
        otp_verify_rate="1000000/minute",
        otp_resend_seconds=0,
        otp_daily_cap=1_000_000,
        otp_max_attempts=1_000_000,  # the load phase keeps guessing on the same codes
        llm_backend="offline",
    )
    sms = CapturingSms()
    services = build_services(settings, sms=sms)
    runner = web.AppRunner(create_app(services), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site.port}"
    try:
        verify_phones = [phone(n) for n in range(VERIFY_PHONES)]
        load_phones = [phone(VERIFY_PHONES + n) for n in range(CONCURRENCY)]
        print(f"issuing {len(verify_phones) + len(load_phones)} codes ...", flush=True)
        await issue_codes(services, verify_phones + load_phones)
        async with aiohttp.ClientSession() as session:
            rate, failures = await measure_verifies(session, base, sms, verify_phones)
            async with LoopLag() as idle_lag:
                idle = await sample_health(session, base)
            async with LoopLag() as loaded_lag:
                loaded, load_verifies = await health_under_load(session, base, sms, load_phones)
        print(f"cpu cores:                      {os.cpu_count()}")
        current, legacy = hash_rates()
        print(f"hmac hashes/s (one thread):     {current:.0f}")
        print(f"legacy pbkdf2 hashes/s:         {legacy:.1f}")
        print(
            f"verifies/s (right codes, {CONCURRENCY} at a time, HTTP): {rate:.1f}"
            f"  (failures: {failures})"
        )
        print(
            f"/healthz p99 idle:              {p99(idle) * 1000:.2f} ms"
            f"  (median {statistics.median(idle) * 1000:.2f} ms, n={len(idle)})"
        )
        print(
            f"/healthz p99 under {CONCURRENCY} verifies: {p99(loaded) * 1000:.2f} ms"
            f"  (median {statistics.median(loaded) * 1000:.2f} ms, n={len(loaded)},"
            f" {load_verifies} verifies meanwhile)"
        )
        print(f"p99 ratio loaded/idle:          {p99(loaded) / p99(idle):.2f}")
        print(
            f"event-loop lag p99 idle/loaded: {p99(idle_lag.samples) * 1000:.2f} ms"
            f" / {p99(loaded_lag.samples) * 1000:.2f} ms"
        )
    finally:
        await runner.cleanup()
        await services.aclose()
        await database.close()
        with contextlib.suppress(Exception):
            await drop_scratch_database(url)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
