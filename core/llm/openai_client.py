"""Chat completions over the openai SDK (3.x, httpx2) against OpenAI or any compatible server.

Decisions:

- Chat Completions, not the Responses API: OpenAI-compatible servers (vLLM, llama.cpp,
  Ollama, proxies) implement the former.
- ``max_tokens``, not ``max_completion_tokens``: the SDK marks ``max_tokens`` deprecated,
  but OpenAI still honours it for every model in our price table and compatible servers
  widely accept only it. (o-series reasoning models reject it; they are not priced here.)
- Retries are ours, never the SDK's (``max_retries=0``), and only before the first text
  delta: once text has reached the caller a retry would duplicate it and bill twice. A read
  timeout is not retried either: the user has already waited the whole timeout and the server
  may still be generating (and billing) the first answer. Connection failures, 408/409/429
  and 5xx are retried ``RetryPolicy.retries`` times with a short exponential backoff; a
  ``Retry-After`` longer than the backoff cap fails at once rather than keep a user waiting.
- ``timeout_seconds`` bounds each read (the wait for headers and the gap between chunks),
  not the whole answer, which ``max_tokens`` bounds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import httpx2
from openai import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncOpenAI,
    AsyncStream,
    OpenAIError,
)
from openai.types.chat import ChatCompletionChunk
from openai.types.completion_usage import CompletionUsage

from core.errors import ConfigurationError
from core.llm.base import ChatMessage, LlmStreamBroken, LlmUnavailable, Usage

logger = logging.getLogger(__name__)

# OpenAI-compatible local servers ignore the key, but the SDK refuses to start without one.
PLACEHOLDER_API_KEY = "no-key-required"
CONNECT_TIMEOUT_SECONDS = 10.0
RETRYABLE_STATUSES = frozenset({408, 409, 429})

ChunkStream = AsyncStream[ChatCompletionChunk]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry a call that produced no text yet."""

    retries: int = 2
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 4.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds before retry number ``attempt + 1``, or None to give up now."""
        if attempt >= self.retries:
            return None
        if retry_after is not None and retry_after > self.max_backoff_seconds:
            return None
        backoff = self.backoff_seconds * 2**attempt
        return min(self.max_backoff_seconds, max(backoff, retry_after or 0.0))


class OpenAiLlmClient:
    """An :class:`~core.llm.base.LlmClient` backed by one shared ``AsyncOpenAI``."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout_seconds: float,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not api_key and not base_url:
            raise ConfigurationError("llm_not_configured")
        timeout = httpx2.Timeout(
            timeout_seconds, connect=min(timeout_seconds, CONNECT_TIMEOUT_SECONDS)
        )
        self._sdk = AsyncOpenAI(
            api_key=api_key or PLACEHOLDER_API_KEY,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
        )
        self._retry = retry or RetryPolicy()

    def stream(self, *, messages: list[ChatMessage], model: str, max_tokens: int) -> OpenAiStream:
        """A lazy stream of the answer; the request is sent on first iteration."""
        params: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        return OpenAiStream(self._sdk, params=params, model=model, retry=self._retry)

    async def aclose(self) -> None:
        """Close the SDK's connection pool."""
        await self._sdk.close()


class OpenAiStream:
    """Text deltas of one chat completion, with retries until the first one arrives."""

    def __init__(
        self, sdk: AsyncOpenAI, *, params: dict[str, Any], model: str, retry: RetryPolicy
    ) -> None:
        self._sdk = sdk
        self._params = params
        self._retry = retry
        self._deltas = self._generate()
        # Billed as the requested model (what the reservation priced), not the name the
        # server echoes, which for compatible servers can be anything.
        self.model = model
        self.usage: Usage | None = None

    def __aiter__(self) -> OpenAiStream:
        return self

    async def __anext__(self) -> str:
        return await self._deltas.__anext__()

    async def aclose(self) -> None:
        """Stop reading and release the connection."""
        await self._deltas.aclose()

    async def _generate(self) -> AsyncGenerator[str, None]:
        chunks, first = await self._first_delta()
        try:
            if first is None:
                return
            received = [first]
            yield first
            while (delta := await self._next_delta(chunks, received)) is not None:
                received.append(delta)
                yield delta
        finally:
            await chunks.close()

    async def _first_delta(self) -> tuple[ChunkStream, str | None]:
        attempt = 0
        while True:
            try:
                return await self._attempt()
            except OpenAIError as exc:
                delay = self._retry.delay(attempt, _retry_after(exc)) if _retryable(exc) else None
                if delay is None:
                    raise LlmUnavailable(reason=_reason(exc), **_status_param(exc)) from exc
                logger.warning(
                    "model call failed before the first token (%s); retry %d in %.2fs",
                    _reason(exc),
                    attempt + 1,
                    delay,
                )
            attempt += 1
            await asyncio.sleep(delay)

    async def _attempt(self) -> tuple[ChunkStream, str | None]:
        chunks = await self._sdk.chat.completions.create(**self._params)
        try:
            # The first chunk usually carries only the role; wait for real text.
            while True:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    return chunks, None
                if delta := self._absorb(chunk):
                    return chunks, delta
        except BaseException:
            await chunks.close()
            raise

    async def _next_delta(self, chunks: ChunkStream, received: list[str]) -> str | None:
        while True:
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                return None
            except OpenAIError as exc:
                raise LlmStreamBroken(
                    reason=_reason(exc),
                    received_text="".join(received),
                    received_chunks=len(received),
                ) from exc
            if delta := self._absorb(chunk):
                return delta

    def _absorb(self, chunk: ChatCompletionChunk) -> str:
        """Record usage if ``chunk`` carries it; return its text (possibly empty)."""
        if chunk.usage is not None:
            self.usage = _usage(chunk.usage)
        if not chunk.choices:
            return ""  # the usage chunk: choices == []
        delta = chunk.choices[0].delta
        # Sloppy compatible servers may send a choice without a delta object.
        return (getattr(delta, "content", None) or "") if delta is not None else ""


def _usage(usage: CompletionUsage) -> Usage:
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details is not None else 0
    return Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_prompt_tokens=cached,
    )


def _retryable(exc: OpenAIError) -> bool:
    if isinstance(exc, APITimeoutError):
        # Only when the request never left: a read timeout may still be generating.
        return isinstance(exc.__cause__, httpx2.ConnectTimeout | httpx2.PoolTimeout)
    if isinstance(exc, APIConnectionError):
        return True
    if isinstance(exc, APIStatusError):
        if exc.code == "insufficient_quota":  # a 429 that no amount of waiting fixes
            return False
        return exc.status_code in RETRYABLE_STATUSES or exc.status_code >= 500
    return False


def _reason(exc: OpenAIError) -> str:
    if isinstance(exc, APITimeoutError):
        return "timeout"
    if isinstance(exc, APIConnectionError):
        return "connection_error"
    if isinstance(exc, APIStatusError):
        return _status_reason(exc)
    return "bad_response"


def _status_reason(exc: APIStatusError) -> str:
    status = exc.status_code
    if status == 429:
        return "quota_exceeded" if exc.code == "insufficient_quota" else "rate_limited"
    if status >= 500:
        return "server_error"
    if status in (401, 403):
        return "auth_failed"
    if status == 404:
        return "model_not_found"
    return "rejected"


def _status_param(exc: OpenAIError) -> dict[str, int]:
    return {"status": exc.status_code} if isinstance(exc, APIStatusError) else {}


def _retry_after(exc: OpenAIError) -> float | None:
    if not isinstance(exc, APIStatusError):
        return None
    headers = exc.response.headers
    try:
        if (millis := headers.get("retry-after-ms")) is not None:
            return float(millis) / 1000
        if (seconds := headers.get("retry-after")) is not None:
            return float(seconds)
    except ValueError:
        return None  # an HTTP-date: treat as "no hint"
    return None
