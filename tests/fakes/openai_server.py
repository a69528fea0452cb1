"""An OpenAI-compatible chat-completions server on 127.0.0.1 for the real SDK to talk to.

``async with FakeOpenAI() as fake:`` then point the SDK at ``fake.base_url`` (``{url}/v1``).
Knobs are plain attributes, changed between (or during) requests:

- ``answer``: the reply text, or a callable of the request body returning it;
- ``chunk_chars`` / ``chunk_delay``: how the reply is split and paced (the delay applies
  before each content chunk from index ``delay_from_chunk`` on, so a stall can come
  after some text);
- ``initial_delay``: seconds before the response headers (to trigger client timeouts);
- ``fail_next(n, status)``: the next ``n`` requests answer ``status`` with an error body;
- ``cut_after_chunks``: drop the connection after that many content chunks (no usage, no
  ``[DONE]``);
- ``omit_usage``: never send the usage chunk even when ``include_usage`` was asked.

Every request body is recorded in ``requests`` (parsed JSON) before any knob applies.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.server import LoopbackServer

Answer = str | Callable[[dict[str, Any]], str]


class FakeOpenAI(LoopbackServer):
    """A real aiohttp server speaking the chat-completions wire format."""

    def __init__(self, *, answer: Answer = "Hello from the fake model.") -> None:
        super().__init__()
        self.answer: Answer = answer
        self.chunk_chars = 4
        self.chunk_delay = 0.0
        self.delay_from_chunk = 0
        self.initial_delay = 0.0
        self.cut_after_chunks: int | None = None
        self.omit_usage = False
        self.retry_after: str | None = None
        self.requests: list[dict[str, Any]] = []
        self._failures: list[int] = []

    @property
    def base_url(self) -> str:
        """What the SDK's ``base_url`` must be."""
        return f"{self.url}/v1"

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next ``count`` requests with HTTP ``status`` and an error body."""
        self._failures.extend([status] * count)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._completions)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if self.initial_delay:
            await asyncio.sleep(self.initial_delay)
        if self._failures:
            return _error_response(self._failures.pop(0), self.retry_after)
        text = self.answer(body) if callable(self.answer) else self.answer
        if body.get("stream"):
            return await self._stream(request, body, text)
        return web.json_response(_completion(body, text))

    async def _stream(self, request: web.Request, body: dict[str, Any], text: str) -> Any:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await _send(response, _chunk(body, {"role": "assistant", "content": ""}))
        pieces = [text[i : i + self.chunk_chars] for i in range(0, len(text), self.chunk_chars)]
        for index, piece in enumerate(pieces):
            if self.cut_after_chunks is not None and index >= self.cut_after_chunks:
                return _drop_connection(request, response)
            if self.chunk_delay and index >= self.delay_from_chunk:
                await asyncio.sleep(self.chunk_delay)
            await _send(response, _chunk(body, {"content": piece}))
        await _send(response, _chunk(body, {}, finish_reason="stop"))
        wants_usage = (body.get("stream_options") or {}).get("include_usage")
        if wants_usage and not self.omit_usage:
            usage_chunk = {**_chunk(body, {}), "choices": [], "usage": _usage(body, text)}
            await _send(response, usage_chunk)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _drop_connection(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    # Closing the socket mid-body leaves the chunked message unterminated: the client sees
    # the peer vanish, exactly like a proxy or model server dying mid-answer.
    transport = request.transport
    if transport is not None:
        transport.abort()
    return response


async def _send(response: web.StreamResponse, payload: dict[str, Any]) -> None:
    data = json.dumps(payload, ensure_ascii=False)
    await response.write(f"data: {data}\n\n".encode())


def _chunk(
    body: dict[str, Any], delta: dict[str, Any], finish_reason: str | None = None
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_764_460_800,
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_764_460_800,
        "model": body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(body, text),
    }


def _usage(body: dict[str, Any], text: str) -> dict[str, Any]:
    # Deterministic counts the tests can recompute: ceil(characters / 4).
    prompt = sum(math.ceil(len(str(m.get("content", ""))) / 4) for m in body["messages"])
    completion = math.ceil(len(text) / 4)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def _error_response(status: int, retry_after: str | None) -> web.Response:
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    payload = {"error": {"message": f"fake failure {status}", "type": kind, "code": kind}}
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    return web.json_response(payload, status=status, headers=headers)
