"""The offline backend: deterministic, honest about not being a model, usage by a fixed rule."""

from __future__ import annotations

import math

from core.i18n import translate
from core.llm.base import ChatMessage, LlmClient, LlmStream, Usage
from core.llm.offline import OFFLINE_MODEL, OfflineLlmClient
from core.llm.pricing import cost

PERSIAN_PROMPT = [
    ChatMessage("system", "You are a writer."),
    ChatMessage("user", "یک پست کوتاه دربارهٔ قهوهٔ صبحگاهی بنویس"),
]
ENGLISH_PROMPT = [ChatMessage("user", "Write a short post about morning coffee")]


async def collect(stream: LlmStream) -> list[str]:
    return [delta async for delta in stream]


async def test_answers_in_persian_that_it_is_not_a_model() -> None:
    client = OfflineLlmClient()

    text = "".join(await collect(client.stream(messages=PERSIAN_PROMPT, model="x", max_tokens=500)))

    assert text.startswith(translate("fa", "llm.offline.notice"))
    assert "مدل زبانی" in text
    assert "قهوهٔ صبحگاهی" in text  # the request is echoed


async def test_answers_in_english_for_an_english_request() -> None:
    client = OfflineLlmClient()

    text = "".join(await collect(client.stream(messages=ENGLISH_PROMPT, model="x", max_tokens=500)))

    assert "No language model wrote this" in text
    assert "morning coffee" in text


async def test_a_language_can_be_forced() -> None:
    client = OfflineLlmClient(language="en")

    text = "".join(await collect(client.stream(messages=PERSIAN_PROMPT, model="x", max_tokens=500)))

    assert text.startswith("No language model")


async def test_is_deterministic_and_streams_several_chunks() -> None:
    client = OfflineLlmClient(chunk_chars=10)

    first = await collect(client.stream(messages=PERSIAN_PROMPT, model="x", max_tokens=500))
    second = await collect(client.stream(messages=PERSIAN_PROMPT, model="x", max_tokens=500))

    assert first == second
    assert len(first) > 3
    assert all(0 < len(chunk) <= 10 for chunk in first)


async def test_reports_usage_by_the_quarter_token_rule_once_exhausted() -> None:
    stream = OfflineLlmClient().stream(messages=PERSIAN_PROMPT, model="gpt-4o", max_tokens=500)

    assert stream.usage is None
    text = "".join(await collect(stream))

    expected_prompt = sum(math.ceil(len(m.content) / 4) for m in PERSIAN_PROMPT)
    assert stream.usage == Usage(expected_prompt, math.ceil(len(text) / 4))
    assert stream.model == OFFLINE_MODEL
    assert cost(stream.usage, stream.model) == 0


async def test_respects_max_tokens() -> None:
    stream = OfflineLlmClient().stream(messages=ENGLISH_PROMPT, model="x", max_tokens=3)

    text = "".join(await collect(stream))

    assert len(text) == 12
    assert stream.usage is not None and stream.usage.completion_tokens == 3


async def test_summarises_a_long_request() -> None:
    long_request = [ChatMessage("user", "word " * 500)]

    text = "".join(
        await collect(OfflineLlmClient().stream(messages=long_request, model="x", max_tokens=999))
    )

    assert "…" in text
    assert len(text) < 600


async def test_aclose_stops_the_stream_without_usage() -> None:
    stream = OfflineLlmClient(chunk_chars=5).stream(
        messages=ENGLISH_PROMPT, model="x", max_tokens=500
    )

    first = await anext(stream)
    await stream.aclose()

    assert first
    assert await collect(stream) == []
    assert stream.usage is None


async def test_fits_the_protocols() -> None:
    client = OfflineLlmClient()

    assert isinstance(client, LlmClient)
    assert isinstance(client.stream(messages=ENGLISH_PROMPT, model="x", max_tokens=5), LlmStream)
    await client.aclose()
