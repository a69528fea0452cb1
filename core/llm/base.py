"""The language-model contract every backend implements, and its two failure modes.

A backend's ``stream()`` is a plain (not ``async``) method returning an :class:`LlmStream`
at once; the network call starts on the first ``__anext__``. So callers write::

    stream = client.stream(messages=msgs, model=model, max_tokens=n)
    try:
        async for delta in stream:
            ...
    finally:
        await stream.aclose()
    settle(stream.usage, stream.model)

The split between the two errors is what billing needs: :class:`LlmUnavailable` means nothing
was produced (release the reservation); :class:`LlmStreamBroken` means some text arrived
(charge for it, from ``received_chunks`` when ``usage`` is missing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from core.errors import ServiceUnavailable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a chat prompt."""

    role: Role
    content: str


@dataclass(slots=True)
class Usage:
    """Token counts of one completion as the backend reported them."""

    prompt_tokens: int
    completion_tokens: int
    # Part of prompt_tokens served from the provider's prompt cache (cheaper on some models).
    cached_prompt_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@runtime_checkable
class LlmStream(Protocol):
    """Text deltas of one completion; ``usage`` and ``model`` are final once exhausted."""

    # None when the backend never sent usage (the stream broke, or the server omits it).
    usage: Usage | None
    # The model to bill: the requested one for OpenAI, "offline" for the offline backend.
    model: str

    def __aiter__(self) -> AsyncIterator[str]: ...

    async def __anext__(self) -> str: ...

    async def aclose(self) -> None:
        """Stop early and release the connection; safe to call more than once."""
        ...


@runtime_checkable
class LlmClient(Protocol):
    """A chat-completion backend; one instance per process."""

    def stream(self, *, messages: list[ChatMessage], model: str, max_tokens: int) -> LlmStream:
        """A lazy stream of the answer to ``messages``; nothing is sent until iterated."""
        ...

    async def aclose(self) -> None:
        """Release the backend's connections."""
        ...


class LlmUnavailable(ServiceUnavailable):
    """The model call failed before the first token: nothing to charge."""

    code = "llm_unavailable"

    def __init__(self, *, reason: str, **params: Any) -> None:
        super().__init__(None, reason=reason, **params)
        self.reason = reason


class LlmStreamBroken(ServiceUnavailable):
    """The stream broke after at least one token; ``received_text`` is what arrived."""

    code = "llm_stream_broken"

    def __init__(self, *, reason: str, received_text: str, received_chunks: int) -> None:
        # The partial text stays an attribute, not a param: params reach error envelopes.
        super().__init__(None, reason=reason, received_chunks=received_chunks)
        self.reason = reason
        self.received_text = received_text
        self.received_chunks = received_chunks
