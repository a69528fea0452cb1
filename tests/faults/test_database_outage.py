"""PostgreSQL stopped mid-generation: the stream rides it out and the draft lands after."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.faults.conftest import NOTHING_STUCK, signed_in, stuck
from tests.faults.product import Product
from tests.faults.servers import PrivatePostgres

pytestmark = pytest.mark.faults

OUTAGE_SECONDS = 15
ANSWER = "".join(f"word{i:02d} " for i in range(40))  # 280 characters


async def test_postgres_stopped_mid_stream_the_generation_still_lands(
    product: Product, postgres: PrivatePostgres, model: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    # ~12 s of streaming: it ends while the database is still down.
    model.answer, model.chunk_chars, model.chunk_delay = ANSWER, 10, 0.4
    await product.start("--no-scheduler")
    client = await signed_in(product, http)
    content_id = await client.draft()
    job_id = await client.generate(content_id)
    await client.job_in(job_id, "running")

    await postgres.stop()
    outage_ends = asyncio.get_running_loop().time() + OUTAGE_SECONDS
    answers = []
    while asyncio.get_running_loop().time() < outage_ends:
        # A read the database serves (the caller's principal may be kept: /api/auth/me can
        # answer without it).
        status, body = await client.call("GET", f"/api/contents/{content_id}")
        answers.append((status, body["error"]["code"] if status != 200 else None))
        await asyncio.sleep(1)
    await postgres.start()

    assert set(answers) == {(503, "service_unavailable")}, answers
    job = await client.ended(job_id, within=60)
    assert (job["status"], job["error"]) == ("succeeded", None), product.text
    content = await client.ok("GET", f"/api/contents/{content_id}")
    assert (content["status"], content["body"]) == ("draft", ANSWER.strip())
    assert await stuck(postgres) == NOTHING_STUCK
    # One line when the database went, one when it came back; no tracebacks per request.
    assert product.text.count("database is unavailable") == 1, product.text
    assert "Traceback" not in product.text, product.text
