"""Amplification benchmark: one generate on a prompt that repeats one placeholder 2,000 times.

Run: ``.venv/bin/python -m bench.amplification`` (PostgreSQL must be running; it creates and
drops the database named by ``BENCH_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/contexor_bench_amp``). ``BENCH_COPIES`` (default 2000)
and ``BENCH_VALUE_CHARS`` (default 20000) set the case.

The prompt is stored directly, as a prompt saved before the save-time bound existed could be
(saving it through the API now answers ``template_too_large``, which is printed too). The real
app is served on a loopback port and one ``POST /api/contents/{id}/generate`` carries a
20,000-character value: before the bound, the server rendered 40 MB, estimated its tokens on the
event loop and only then refused with 402. Measured: the answer (status, code), its time, the
process's RSS before and at its peak (``/proc/self/status`` VmRSS / VmHWM), and ``/healthz``
p99 and the event loop's lag while the request is in flight. The budget is small so that no
model is ever called (the configured one listens nowhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from decimal import Decimal

import aiohttp
from aiohttp import web
from pydantic import SecretStr

import db as database
from bench.generation import memory_kib, sample_health
from bench.measure import LoopLag, p99
from core.api.app import create_app
from core.container import Services, build_services
from core.settings import LlmBackend, Settings
from db.models import Prompt, Role
from tests.support.databases import create_scratch_database, drop_scratch_database
from tests.support.factories import (
    add_member,
    make_org,
    make_project,
    make_workspace,
    principal_for,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/contexor_bench_amp"
RUN_TIMEOUT_SECONDS = 600


async def prepare(services: Services, copies: int) -> tuple[dict[str, str], int, dict]:
    """An editor, the amplifying prompt and a content using it; the editor's auth header."""
    org = await make_org()
    editor = await add_member(org, Role.EDITOR)
    project = await make_project(await make_workspace(org))
    template = " ".join(["{x}"] * copies)
    variables = [
        {"name": "x", "label": "X", "type": "long_text", "required": True},
    ]
    prompt = await Prompt.create(
        organization=org, title="Echo", template=template, variables=variables
    )
    content = await services.content.create(
        actor=await principal_for(editor),
        project_id=project.id,
        title="t",
        body="b",
        prompt_id=prompt.id,
    )
    tokens = await services.auth.issue_tokens(editor)
    save = {
        "organization": org.id,
        "title": "Echo",
        "template": template,
        "variables": variables,
    }
    return {"Authorization": f"Bearer {tokens.access}"}, content.id, save


async def run(url: str, copies: int, value_chars: int) -> None:
    settings = Settings(
        _env_file=None,
        database_url=url,
        redis_url=None,
        secret_key=SecretStr("bench-secret-key-that-is-long-enough-for-hs256-0123456789"),
        llm_backend=LlmBackend.OPENAI,
        openai_base_url="http://127.0.0.1:9/v1",  # never reached: the request is refused first
        openai_api_key=SecretStr("bench"),
        openai_timeout_seconds=5,
        timezone="Asia/Tehran",
        default_workspace_monthly_budget_usd=Decimal(1),
        default_user_monthly_budget_usd=Decimal(1),
    )
    services = build_services(settings)
    runner = web.AppRunner(create_app(services), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site.port}"
    try:
        headers, content_id, save = await prepare(services, copies)
        async with aiohttp.ClientSession() as session:
            idle, _ = await sample_health(session, base, until=None, count=100)
            async with session.post(base + "/api/prompts", json=save, headers=headers) as saved:
                save_answer = (saved.status, (await saved.json()).get("error", {}).get("code"))
            rss_before = memory_kib()["VmRSS"]
            done = asyncio.Event()
            async with LoopLag() as lag:
                sampler = asyncio.create_task(
                    sample_health(session, base, until=done, count=1_000_000)
                )
                started = time.perf_counter()
                async with session.post(
                    f"{base}/api/contents/{content_id}/generate",
                    json={"variables": {"x": "a" * value_chars}},
                    headers=headers,
                ) as response:
                    body = await response.json()
                elapsed = time.perf_counter() - started
                await services.generation.drain()
                done.set()
                loaded, unhealthy = await sampler
        memory = memory_kib()
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        print(f"case:                     {copies} copies of {{x}}, a {value_chars}-char value")
        print(f"  rendered it would be:   {copies * value_chars / 1e6:.1f} M characters")
        print(f"saving it via the API:    {save_answer[0]} {save_answer[1]}")
        print(f"generate answered:        {response.status} {code}")
        print(f"generate took:            {elapsed:.3f} s")
        print(
            f"RSS before / after / peak: {rss_before / 1024:.1f} / "
            f"{memory['VmRSS'] / 1024:.1f} / {memory['VmHWM'] / 1024:.1f} MiB"
        )
        print(f"/healthz p99 idle:        {p99(idle) * 1000:.2f} ms")
        if len(loaded) >= 2:
            print(
                f"/healthz p99 meanwhile:   {p99(loaded) * 1000:.2f} ms "
                f"(max {max(loaded) * 1000:.2f} ms, n={len(loaded)}, 503s: {unhealthy})"
            )
        else:
            print(f"/healthz meanwhile:       {[round(s * 1000, 2) for s in loaded]} ms")
        if len(lag.samples) >= 2:
            print(f"event-loop lag max:       {max(lag.samples) * 1000:.2f} ms")
    finally:
        await runner.cleanup()
        await services.aclose()


async def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    copies = int(os.environ.get("BENCH_COPIES", "2000"))
    value_chars = int(os.environ.get("BENCH_VALUE_CHARS", "20000"))
    await create_scratch_database(url)
    await database.migrate(url)
    await database.close()
    await database.init(url)
    try:
        await asyncio.wait_for(run(url, copies, value_chars), RUN_TIMEOUT_SECONDS)
    finally:
        await database.close()
        with contextlib.suppress(Exception):
            await drop_scratch_database(url)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
