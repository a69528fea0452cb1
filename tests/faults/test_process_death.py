"""The process dies mid-generation (kill -9) or is told to stop (SIGTERM)."""

from __future__ import annotations

import signal

import aiohttp
import pytest

from core.llm.pricing import estimate_tokens
from tests.fakes.openai_server import FakeOpenAI
from tests.faults.conftest import DATABASE, NOTHING_STUCK, signed_in, stuck
from tests.faults.product import Product, poll
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


async def test_sigterm_mid_generation_lets_it_finish_and_refuses_new_ones(
    product: Product, postgres: PrivatePostgres, model: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    answer = LONG_ANSWER[:200]
    model.answer, model.chunk_chars, model.chunk_delay = answer, 10, 0.25  # ~5 s, grace 30 s
    await product.start("--no-scheduler")
    client = await signed_in(product, http)
    content_id, other_id = await client.draft(), await client.draft()
    job_id = await client.generate(content_id)
    await client.job_in(job_id, "running")

    await product.signal(signal.SIGTERM)
    await poll(lambda: _logged(product, "running generations to finish"), within=30)
    status, body = await client.call("POST", f"/api/contents/{other_id}/generate", {})
    assert (status, body["error"]["code"]) == (503, "shutting_down")

    assert await product.exited() == 0
    job = await _job_row(postgres, job_id)
    assert (job["status"], job["error"]) == ("succeeded", None), product.text
    body_now = await postgres.fetch(DATABASE, "SELECT body FROM contents WHERE id = $1", content_id)
    assert body_now[0]["body"] == answer.strip()
    assert await stuck(postgres) == NOTHING_STUCK


async def test_sigterm_with_a_stream_longer_than_the_grace_keeps_the_partial_text(
    product: Product, postgres: PrivatePostgres, model: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    model.answer, model.chunk_chars, model.chunk_delay = LONG_ANSWER, 8, 0.5  # ~100 s
    product.env["SHUTDOWN_GRACE_SECONDS"] = "3"
    await product.start("--no-scheduler")
    client = await signed_in(product, http)
    content_id = await client.draft()
    job_id = await client.generate(content_id)
    await client.job_in(job_id, "running")

    await product.signal(signal.SIGTERM)
    assert await product.exited() == 0

    job = await _job_row(postgres, job_id)
    assert (job["status"], job["error"]) == ("failed", "generation_cancelled"), product.text
    version = (
        await postgres.fetch(
            DATABASE,
            "SELECT body, incomplete FROM content_versions WHERE content_id = $1 AND number = $2",
            content_id,
            job["version_number"],
        )
    )[0]
    assert version["incomplete"] is True
    assert version["body"] and LONG_ANSWER.startswith(version["body"])
    assert version["body"] != LONG_ANSWER.strip()
    # Billed as used: the tokens of exactly the text that arrived, which is what was kept
    # (chunks are whole words with their trailing space; the stored body is trimmed).
    arrived = LONG_ANSWER[: len(version["body"]) + 1]
    assert arrived.strip() == version["body"]
    log = (
        await postgres.fetch(
            DATABASE, "SELECT completion_tokens FROM usage_logs WHERE job_id = $1", job_id
        )
    )[0]
    assert log["completion_tokens"] == estimate_tokens(arrived)
    assert await stuck(postgres) == NOTHING_STUCK


async def _logged(product: Product, text: str) -> bool | None:
    return True if text in product.text else None


async def _job_row(postgres: PrivatePostgres, job_id: int) -> dict[str, object]:
    rows = await postgres.fetch(
        DATABASE, "SELECT status, error, version_number FROM generation_jobs WHERE id = $1", job_id
    )
    return dict(rows[0])
