"""The process dies mid-generation (kill -9) or is told to stop (SIGTERM)."""

from __future__ import annotations

import signal

import aiohttp
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.faults.conftest import NOTHING_STUCK, signed_in, stuck
from tests.faults.product import Product
from tests.faults.servers import PrivatePostgres

pytestmark = pytest.mark.faults

LONG_ANSWER = "".join(f"word{i:03d} " for i in range(200))  # 1,600 characters


async def test_kill_9_mid_generation_the_restart_reaps_the_job(
    product: Product, postgres: PrivatePostgres, model: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    model.answer, model.chunk_chars, model.chunk_delay = LONG_ANSWER, 8, 0.5  # ~100 s
    await product.start("--no-scheduler")  # the start-up alone must reap it
    client = await signed_in(product, http)
    content_id = await client.draft()
    job_id = await client.generate(content_id)
    await client.job_in(job_id, "running")

    await product.signal(signal.SIGKILL)
    assert await product.exited() == -signal.SIGKILL
    await product.start("--no-scheduler")
    client.base = await product.serving()

    # The dead process's lease lapses (15 s) and the new process reaps its job.
    job = await client.job_in(job_id, "failed", within=60)
    assert job["error"] == "job_abandoned"
    content = await client.ok("GET", f"/api/contents/{content_id}")
    assert content["status"] == "draft"
    assert await stuck(postgres) == NOTHING_STUCK
    assert "reaped generation job" in product.text, product.text
