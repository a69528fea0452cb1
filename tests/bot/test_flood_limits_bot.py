"""The real bot under Telegram's flood limits (the local Bot API's ``flood_limits``).

Forty people get a notification written through core's outbox while a writer's draft streams.
The overall rate is set below Telegram's 30 a second, so the bot's own pacing cannot keep it
from meeting 429s: what is tested is that the product retries them, loses nothing, sends
nothing twice and shows no one an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from tortoise.transactions import in_transaction

from core.clock import Clock
from core.settings import LlmBackend, Settings
from db.models import OutboxMessage, OutboxStatus, Role
from tests.bot.harness import BotHarness, Person
from tests.bot.test_compose import _final, _generate_simple
from tests.fakes.bot_api import FakeBotApi, FloodLimits
from tests.fakes.openai_server import FakeOpenAI

READERS = 40
# Telegram's own limits: the bot keeps what it starts (the notifications) under the overall
# rate itself and replies skip that limiter (bot/pacing.py), so an overall rate below
# Telegram's would refuse the writer's replies more often than any retry budget allows.
LIMITS = FloodLimits()


@pytest.fixture
def clock() -> Clock:
    """Wall time: a 429 puts an outbox row back for ``retry_after`` real seconds."""
    return Clock()


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(answer=" ".join(f"واژه{n}" for n in range(60))) as fake:
        fake.chunk_chars = 20
        fake.chunk_delay = 0.1  # the draft streams while the notifications go out
        yield fake


@pytest.fixture
def bot_settings(settings: Settings, bot_api: FakeBotApi, model: FakeOpenAI) -> Settings:
    bot_api.flood_limits = LIMITS
    bot_api.stream_interval = 1.0
    return settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(bot_api.token),
            "telegram_api_base_url": bot_api.url,
            "llm_backend": LlmBackend.OPENAI,
            "openai_base_url": model.base_url,
            "openai_api_key": SecretStr("test"),
            "outbox_poll_seconds": 0.1,
        }
    )


async def notify(harness: BotHarness, readers: list[Person]) -> None:
    """One generation_finished row each, written as core writes them (in a transaction)."""
    assert harness.services is not None
    async with in_transaction() as connection:
        for reader in readers:
            assert reader.user is not None
            await harness.services.outbox.enqueue(
                connection=connection,
                user_ids=[reader.user.id],
                kind="generation_finished",
                payload={"content_id": 1, "title": f"متن {reader.id}", "ok": True},
            )


async def all_rows_settled(harness: BotHarness) -> None:
    async with asyncio.timeout(60):
        while await OutboxMessage.filter(
            status__in=[OutboxStatus.PENDING, OutboxStatus.SENDING]
        ).exists():
            await harness.fake.changed()  # the bot's long polls move it at least every second


async def test_under_flood_limits_every_notification_and_the_draft_arrive_once(
    harness: BotHarness, model: FakeOpenAI
) -> None:
    writer = await harness.linked_user(Role.WRITER)
    readers = [await harness.linked_user(Role.WRITER) for _ in range(READERS)]

    await _generate_simple(harness, writer)
    await notify(harness, readers)
    await _final(harness, writer)
    await harness.fake.wait_until(
        lambda: all(harness.fake.messages(r.id, from_bot=True) for r in readers),
        timeout=60,
        what="a notification in every reader's chat",
    )
    await all_rows_settled(harness)

    fake = harness.fake
    assert fake.flood_refusals > 0  # the limits were met, not dodged
    for reader in readers:
        sends = [c for c in fake.calls_to("sendMessage") if c.ok and c.chat_id == reader.id]
        assert len(sends) == 1, f"reader {reader.id} got {len(sends)} messages"
        assert reader.texts == [f"✨ متن «متن {reader.id}» آماده است."]
    rows = await OutboxMessage.all()
    assert len(rows) >= READERS and {row.status for row in rows} == {OutboxStatus.SENT}
    answers = [m for m in fake.messages(writer.id, from_bot=True) if m.text == model.answer]
    assert len(answers) == 1
    error = harness.t("bot.error.internal")
    for person in [writer, *readers]:
        assert error not in person.texts
