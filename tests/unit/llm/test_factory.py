"""The LLM factory builds the backend the settings name."""

from __future__ import annotations

from core.llm.base import LlmClient
from core.llm.factory import build_llm_client
from core.llm.offline import OfflineLlmClient
from core.llm.openai_client import OpenAiLlmClient
from core.settings import Settings

NO_OPENAI = {"openai_api_key": None, "openai_base_url": None, "llm_backend": None}


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **{**NO_OPENAI, **values})  # type: ignore[arg-type]


async def test_offline_without_key_or_url() -> None:
    client = build_llm_client(settings())

    assert isinstance(client, OfflineLlmClient)
    await client.aclose()


async def test_openai_when_a_base_url_is_set() -> None:
    client = build_llm_client(settings(openai_base_url="http://127.0.0.1:9/v1"))

    assert isinstance(client, OpenAiLlmClient)
    assert isinstance(client, LlmClient)
    await client.aclose()


async def test_an_explicit_offline_backend_wins_over_a_key() -> None:
    client = build_llm_client(settings(openai_api_key="sk-x", llm_backend="offline"))

    assert isinstance(client, OfflineLlmClient)
