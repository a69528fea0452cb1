"""An in-process ``LlmClient`` double whose streams the test controls step by step.

The HTTP fake (``tests/fakes/openai_server.py``) is for the real openai client; this double is
for what the generation service does around a stream: hold it open (``hold()`` then
``release()``) to observe a running job, let it on chunk by chunk (``allow(n)``, then
``wait_for_stalls(k)`` until the streams stopped again), break it, or bill it as a priced model.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

from core.llm.base import ChatMessage, LlmStreamBroken, LlmUnavailable, Usage


def quarter_tokens(text: str) -> int:
    """The double's token count: ceil(characters / 4), like the HTTP fake."""
    return math.ceil(len(text) / 4)


@dataclass
class ScriptedLlm:
    """Answers ``answer`` in chunks, billed as ``model``; records every request's messages."""

    answer: str = "A scripted answer. پاسخی آزمایشی."
    model: str = "gpt-4o-mini"
    chunk_chars: int = 8
    report_usage: bool = True
    fail_before_first: bool = False
    break_after_chunks: int | None = None
    requests: list[list[ChatMessage]] = field(default_factory=list)
    # While held, streams wait before each chunk after the first unless allowed (see hold()).
    held: bool = False
    allowed: int = 0  # chunks streams may still yield while held
    stalls: int = 0  # how many times a stream has stopped to wait while held
    first_chunks: int = 0  # how many streams have yielded their first chunk
    _first_chunk_seen: asyncio.Condition = field(default_factory=asyncio.Condition)
    _gate: asyncio.Condition = field(default_factory=asyncio.Condition)
    _wakers: set[asyncio.Task[None]] = field(default_factory=set)

    def hold(self) -> None:
        """Make streams stop after their first chunk until :meth:`allow` or :meth:`release`."""
        self.held = True
        self.allowed = 0

    async def allow(self, chunks: int = 1) -> None:
        """Let ``chunks`` more chunks through (in total, across streams) while held."""
        async with self._gate:
            self.allowed += chunks
            self._gate.notify_all()

    async def wait_for_stalls(self, count: int) -> None:
        """Return once streams have stopped to wait ``count`` times in all since created.

        A stream stops only when it wants its next chunk, so by then the service has done
        everything it does with the chunk before (the heartbeat write, say).
        """
        async with self._gate:
            await self._gate.wait_for(lambda: self.stalls >= count)

    def release(self) -> None:
        """Let every stream run to its end."""
        self.held = False
        waker = asyncio.get_running_loop().create_task(self._wake())
        self._wakers.add(waker)  # a strong reference until it ran
        waker.add_done_callback(self._wakers.discard)

    async def _wake(self) -> None:
        async with self._gate:
            self._gate.notify_all()

    async def _pass_gate(self) -> None:
        async with self._gate:
            if self.held and self.allowed == 0:
                self.stalls += 1
                self._gate.notify_all()
                await self._gate.wait_for(lambda: not self.held or self.allowed > 0)
            if self.held:
                self.allowed -= 1

    async def wait_for_first_chunks(self, count: int) -> None:
        """Return once ``count`` streams have yielded their first chunk."""
        async with self._first_chunk_seen:
            await self._first_chunk_seen.wait_for(lambda: self.first_chunks >= count)

    def stream(self, *, messages: list[ChatMessage], model: str, max_tokens: int) -> ScriptedStream:
        return ScriptedStream(self, messages, max_tokens)

    async def aclose(self) -> None:
        """Nothing to close."""


class ScriptedStream:
    def __init__(self, llm: ScriptedLlm, messages: list[ChatMessage], max_tokens: int) -> None:
        self._llm = llm
        self._messages = messages
        text = llm.answer[: max_tokens * 4]
        self._chunks = [text[i : i + llm.chunk_chars] for i in range(0, len(text), llm.chunk_chars)]
        self._position = 0
        self._sent = False
        self.model = llm.model
        self.usage: Usage | None = None

    def __aiter__(self) -> ScriptedStream:
        return self

    async def __anext__(self) -> str:
        llm = self._llm
        if not self._sent:
            self._sent = True
            llm.requests.append(self._messages)
            if llm.fail_before_first:
                raise LlmUnavailable(reason="server_error", status=500)
        if self._position >= 1 and self._position <= len(self._chunks):
            await llm._pass_gate()
        if llm.break_after_chunks is not None and self._position >= llm.break_after_chunks:
            received = "".join(self._chunks[: self._position])
            raise LlmStreamBroken(
                reason="connection_error", received_text=received, received_chunks=self._position
            )
        if self._position >= len(self._chunks):
            if llm.report_usage:
                prompt = sum(quarter_tokens(m.content) for m in self._messages)
                self.usage = Usage(prompt, quarter_tokens("".join(self._chunks)))
            raise StopAsyncIteration
        chunk = self._chunks[self._position]
        self._position += 1
        if self._position == 1:
            async with llm._first_chunk_seen:
                llm.first_chunks += 1
                llm._first_chunk_seen.notify_all()
        return chunk

    async def aclose(self) -> None:
        self._position = len(self._chunks)
