"""Builds the process's one LLM client from the settings."""

from __future__ import annotations

from core.llm.base import LlmClient
from core.llm.offline import OfflineLlmClient
from core.llm.openai_client import OpenAiLlmClient
from core.settings import LlmBackend, Settings


def build_llm_client(settings: Settings) -> LlmClient:
    """The backend ``settings.effective_llm_backend`` names; close it with ``aclose()``."""
    if settings.effective_llm_backend is LlmBackend.OFFLINE:
        return OfflineLlmClient(language=None)
    key = settings.openai_api_key
    return OpenAiLlmClient(
        api_key=key.get_secret_value() if key is not None else None,
        base_url=settings.openai_base_url,
        timeout_seconds=settings.openai_timeout_seconds,
    )
