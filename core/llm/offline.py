"""The offline development backend: deterministic text that says plainly it is no model.

It lets the whole product run without a key or network. Its answer is in the language of the
last user message (Persian when it holds Arabic-script letters), echoes a short summary of the
request, and reports usage by one fixed rule (a quarter token per character, rounded up) so
usage and limit tests see stable numbers. It is billed as the model ``offline`` (free).
"""

from __future__ import annotations

import asyncio
import math
import re

from core.i18n import translate
from core.llm.base import ChatMessage, Usage

OFFLINE_MODEL = "offline"
CHARS_PER_TOKEN = 4
SUMMARY_CHARS = 160
_ARABIC_SCRIPT = re.compile(r"[\u0600-\u06FF\uFB50-\uFDFF\uFE70-\uFEFF]")
_WHITESPACE = re.compile(r"\s+")


def offline_tokens(text: str) -> int:
    """The offline backend's token count of ``text``: ceil(characters / 4)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def detect_language(text: str) -> str:
    """``fa`` when ``text`` holds Arabic-script letters, else ``en``."""
    return "fa" if _ARABIC_SCRIPT.search(text) else "en"


class OfflineLlmClient:
    """An :class:`~core.llm.base.LlmClient` that needs no network."""

    def __init__(
        self, *, chunk_chars: int = 16, delay_seconds: float = 0.0, language: str | None = None
    ) -> None:
        if chunk_chars < 1:
            raise ValueError("chunk_chars must be positive")
        self._chunk_chars = chunk_chars
        self._delay_seconds = delay_seconds
        self._language = language

    def stream(self, *, messages: list[ChatMessage], model: str, max_tokens: int) -> OfflineStream:
        """The deterministic answer to ``messages``; ``model`` is ignored (billed as offline)."""
        request = _last_user_text(messages)
        language = self._language or detect_language(request)
        text = _answer(request, language)[: max(max_tokens, 0) * CHARS_PER_TOKEN]
        usage = Usage(
            prompt_tokens=sum(offline_tokens(m.content) for m in messages),
            completion_tokens=offline_tokens(text),
        )
        chunks = [text[i : i + self._chunk_chars] for i in range(0, len(text), self._chunk_chars)]
        return OfflineStream(chunks, usage, delay_seconds=self._delay_seconds)

    async def aclose(self) -> None:
        """Nothing to release."""


class OfflineStream:
    """Yields prepared chunks, pausing between them like a network stream would."""

    model = OFFLINE_MODEL

    def __init__(self, chunks: list[str], usage: Usage, *, delay_seconds: float) -> None:
        self._chunks = chunks
        self._final_usage: Usage | None = usage
        self._delay_seconds = delay_seconds
        self._position = 0
        self.usage: Usage | None = None

    def __aiter__(self) -> OfflineStream:
        return self

    async def __anext__(self) -> str:
        if self._position >= len(self._chunks):
            # Like the real backend, usage is known only once the stream is exhausted.
            self.usage = self._final_usage
            raise StopAsyncIteration
        if self._position:
            # Yield to the loop between chunks so consumers interleave as with a real stream.
            await asyncio.sleep(self._delay_seconds)
        chunk = self._chunks[self._position]
        self._position += 1
        return chunk

    async def aclose(self) -> None:
        """Stop early; later iteration ends at once without usage."""
        self._position = len(self._chunks)
        self._final_usage = None


def _last_user_text(messages: list[ChatMessage]) -> str:
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


def _answer(request: str, language: str) -> str:
    summary = _WHITESPACE.sub(" ", request).strip()
    if len(summary) > SUMMARY_CHARS:
        summary = summary[:SUMMARY_CHARS].rstrip() + "…"
    if not summary:
        summary = translate(language, "llm.offline.empty_request")
    notice = translate(language, "llm.offline.notice")
    return f"{notice}\n\n{translate(language, 'llm.offline.request', request=summary)}"
