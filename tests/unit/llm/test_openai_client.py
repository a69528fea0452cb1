"""The OpenAI client through the real SDK against a local fake server."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.errors import ConfigurationError, ServiceUnavailable
from core.llm.base import (
    ChatMessage,
    LlmClient,
    LlmStream,
    LlmStreamBroken,
    LlmUnavailable,
    Usage,
)
from core.llm.openai_client import OpenAiLlmClient, RetryPolicy
from tests.fakes.openai_server import FakeOpenAI

ANSWER = "Coffee, then words. قهوه، بعد واژه‌ها."
MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "Write about coffee")]
NO_WAIT = RetryPolicy(retries=2, backoff_seconds=0.0, max_backoff_seconds=0.0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(answer=ANSWER) as server:
        yield server


def make_client(
    base_url: str, *, timeout_seconds: float = 5.0, api_key: str | None = "sk-test"
) -> OpenAiLlmClient:
    return OpenAiLlmClient(
        api_key=api_key, base_url=base_url, timeout_seconds=timeout_seconds, retry=NO_WAIT
    )


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[OpenAiLlmClient]:
    llm = make_client(fake.base_url)
    yield llm
    await llm.aclose()


def open_stream(client: OpenAiLlmClient, max_tokens: int = 256) -> LlmStream:
    return client.stream(messages=MESSAGES, model="gpt-4o-mini", max_tokens=max_tokens)


async def collect(stream: LlmStream) -> list[str]:
    try:
        return [delta async for delta in stream]
    finally:
        await stream.aclose()


def fake_usage(body: dict[str, Any], text: str) -> Usage:
    """What the fake reports, recomputed independently."""
    prompt = sum(math.ceil(len(m["content"]) / 4) for m in body["messages"])
    return Usage(prompt_tokens=prompt, completion_tokens=math.ceil(len(text) / 4))


async def test_streams_deltas_and_reads_usage_from_the_final_chunk(
    fake: FakeOpenAI, client: OpenAiLlmClient
) -> None:
    stream = open_stream(client)

    deltas = await collect(stream)

    assert "".join(deltas) == ANSWER
    assert len(deltas) == math.ceil(len(ANSWER) / fake.chunk_chars)
    assert stream.usage == fake_usage(fake.requests[0], ANSWER)
    assert stream.model == "gpt-4o-mini"


async def test_sends_what_compatible_servers_understand(
    fake: FakeOpenAI, client: OpenAiLlmClient
) -> None:
    await collect(open_stream(client, max_tokens=321))

    [body] = fake.requests
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Write about coffee"},
    ]
    assert body["max_tokens"] == 321
    assert "max_completion_tokens" not in body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_nothing_is_sent_until_the_stream_is_read(
    fake: FakeOpenAI, client: OpenAiLlmClient
) -> None:
    stream = open_stream(client)
    assert fake.requests == []

    await collect(stream)

    assert len(fake.requests) == 1


async def test_retries_a_server_error_before_the_first_token(
    fake: FakeOpenAI, client: OpenAiLlmClient
) -> None:
    fake.fail_next(1, status=500)

    assert "".join(await collect(open_stream(client))) == ANSWER
    assert len(fake.requests) == 2


async def test_rate_limits_exhaust_the_retries(fake: FakeOpenAI, client: OpenAiLlmClient) -> None:
    fake.fail_next(5, status=429)

    with pytest.raises(LlmUnavailable) as caught:
        await collect(open_stream(client))

    assert isinstance(caught.value, ServiceUnavailable)
    assert caught.value.code == "llm_unavailable"
    assert caught.value.params == {"reason": "rate_limited", "status": 429}
    assert len(fake.requests) == 1 + NO_WAIT.retries


async def test_a_long_retry_after_fails_at_once(fake: FakeOpenAI, client: OpenAiLlmClient) -> None:
    fake.fail_next(1, status=429)
    fake.retry_after = "30"

    with pytest.raises(LlmUnavailable):
        await collect(open_stream(client))

    assert len(fake.requests) == 1


async def test_a_client_error_is_not_retried(fake: FakeOpenAI, client: OpenAiLlmClient) -> None:
    fake.fail_next(1, status=400)

    with pytest.raises(LlmUnavailable) as caught:
        await collect(open_stream(client))

    assert caught.value.reason == "rejected"
    assert len(fake.requests) == 1


async def test_a_read_timeout_is_unavailable_and_not_retried(fake: FakeOpenAI) -> None:
    fake.initial_delay = 30.0
    client = make_client(fake.base_url, timeout_seconds=0.2)
    try:
        with pytest.raises(LlmUnavailable) as caught:
            await collect(open_stream(client))
    finally:
        await client.aclose()

    assert caught.value.reason == "timeout"
    assert len(fake.requests) == 1


async def test_an_unreachable_server_is_retried_then_unavailable() -> None:
    async with FakeOpenAI() as gone:
        base_url = gone.base_url
    client = make_client(base_url)
    try:
        with pytest.raises(LlmUnavailable) as caught:
            await collect(open_stream(client))
    finally:
        await client.aclose()

    assert caught.value.reason == "connection_error"


async def test_a_stream_cut_after_tokens_carries_what_arrived(
    fake: FakeOpenAI, client: OpenAiLlmClient
) -> None:
    fake.cut_after_chunks = 2
    stream = open_stream(client)
    seen: list[str] = []

    with pytest.raises(LlmStreamBroken) as caught:
        async for delta in stream:
            seen.append(delta)
    await stream.aclose()

    assert seen == [ANSWER[:4], ANSWER[4:8]]
    assert caught.value.received_text == ANSWER[:8]
    assert caught.value.received_chunks == 2
    assert caught.value.code == "llm_stream_broken"
    assert ANSWER[:8] not in str(caught.value.params)  # the text is no error parameter
    assert stream.usage is None
    assert len(fake.requests) == 1  # never retried after a token


async def test_a_stall_after_tokens_is_a_broken_stream(fake: FakeOpenAI) -> None:
    fake.chunk_delay = 30.0
    fake.delay_from_chunk = 1
    client = make_client(fake.base_url, timeout_seconds=0.2)
    try:
        with pytest.raises(LlmStreamBroken) as caught:
            await collect(open_stream(client))
    finally:
        await client.aclose()

    assert caught.value.reason == "timeout"
    assert caught.value.received_text == ANSWER[:4]
    assert len(fake.requests) == 1


async def test_a_stream_cut_before_any_token_is_retried(
    fake: FakeOpenAI, client: OpenAiLlmClient
) -> None:
    fake.cut_after_chunks = 0

    with pytest.raises(LlmUnavailable) as caught:
        await collect(open_stream(client))

    assert caught.value.reason == "connection_error"
    assert len(fake.requests) == 1 + NO_WAIT.retries


async def test_missing_usage_leaves_usage_none(fake: FakeOpenAI, client: OpenAiLlmClient) -> None:
    fake.omit_usage = True
    stream = open_stream(client)

    assert "".join(await collect(stream)) == ANSWER
    assert stream.usage is None


async def test_an_empty_answer_is_no_error(fake: FakeOpenAI, client: OpenAiLlmClient) -> None:
    fake.answer = ""
    stream = open_stream(client)

    assert await collect(stream) == []
    assert stream.usage == Usage(fake_usage(fake.requests[0], "").prompt_tokens, 0)


async def test_the_answer_may_depend_on_the_request(
    fake: FakeOpenAI, client: OpenAiLlmClient
) -> None:
    fake.answer = lambda body: f"echo: {body['messages'][-1]['content']}"

    assert "".join(await collect(open_stream(client))) == "echo: Write about coffee"


async def test_closing_early_releases_the_stream(fake: FakeOpenAI, client: OpenAiLlmClient) -> None:
    stream = open_stream(client)

    first = await anext(stream)
    await stream.aclose()

    assert first == ANSWER[:4]
    assert [delta async for delta in stream] == []


async def test_a_keyless_local_server_gets_a_placeholder_key(fake: FakeOpenAI) -> None:
    client = make_client(fake.base_url, api_key=None)
    try:
        assert "".join(await collect(open_stream(client))) == ANSWER
    finally:
        await client.aclose()


def test_neither_key_nor_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        OpenAiLlmClient(api_key=None, base_url=None, timeout_seconds=5)

    assert caught.value.code == "llm_not_configured"


async def test_fits_the_protocols(client: OpenAiLlmClient) -> None:
    assert isinstance(client, LlmClient)
    stream = open_stream(client)
    assert isinstance(stream, LlmStream)
    await stream.aclose()


def test_retry_policy_backs_off_and_honours_short_retry_after() -> None:
    policy = RetryPolicy(retries=2, backoff_seconds=0.5, max_backoff_seconds=4.0)

    assert policy.delay(0, None) == 0.5
    assert policy.delay(1, None) == 1.0
    assert policy.delay(1, 3.0) == 3.0
    assert policy.delay(0, 10.0) is None
    assert policy.delay(2, None) is None
