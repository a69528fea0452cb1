"""Telegram's flood limits in the local Bot API (``bot/local_api/flood.py``), through PTB.

The fake reads a hand-moved monotonic clock (``clock=``), so every refusal and every
``retry_after`` below is counted, not timed.
"""

from __future__ import annotations

import datetime as dtm
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import RetryAfter

from bot.local_api import FloodGate
from tests.fakes.bot_api import FakeBotApi, FloodLimits

USER, OTHER_USER = 5001, 5002
GROUP = -4001


class ManualClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def bot_api(clock: ManualClock) -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(flood_limits=FloodLimits(), clock=clock) as fake:
        fake.add_user(USER)
        fake.add_user(OTHER_USER)
        fake.add_chat(GROUP, title="Reviewers")
        yield fake


async def refused(call: Any) -> int:
    """The ``retry_after`` (whole seconds) of the 429 that ``call`` must meet."""
    with pytest.raises(RetryAfter) as flood:
        await call
    retry_after = flood.value.retry_after
    assert isinstance(retry_after, dtm.timedelta)
    assert retry_after.total_seconds() == int(retry_after.total_seconds())
    return int(retry_after.total_seconds())


# -- one chat ------------------------------------------------------------------------------------


async def test_a_private_chat_takes_a_short_burst_then_one_a_second(
    bot: Bot, bot_api: FakeBotApi, clock: ManualClock
) -> None:
    for n in range(3):  # the burst
        await bot.send_message(USER, f"burst {n}")

    assert await refused(bot.send_message(USER, "too soon")) == 1
    clock.advance(0.5)
    assert await refused(bot.send_message(USER, "still too soon")) == 1  # whole seconds, ≥ 1
    clock.advance(0.5)
    await bot.send_message(USER, "a second later")
    assert await refused(bot.send_message(USER, "again too soon")) == 1

    # Refused calls changed nothing, took no token, and were counted.
    assert [m.text for m in bot_api.messages(USER)] == [
        "burst 0",
        "burst 1",
        "burst 2",
        "a second later",
    ]
    assert bot_api.flood_refusals == 3
    assert [c.error_code for c in bot_api.calls_to("sendMessage")][-4:] == [429, 429, None, 429]


async def test_each_chat_has_its_own_allowance(bot: Bot, bot_api: FakeBotApi) -> None:
    for _ in range(3):
        await bot.send_message(USER, "to one")
    await refused(bot.send_message(USER, "to one, too soon"))

    await bot.send_message(OTHER_USER, "to another")  # not held back by the first chat

    assert bot_api.last_text(OTHER_USER) == "to another"


async def test_edits_and_documents_count_like_messages(
    bot: Bot, bot_api: FakeBotApi, clock: ManualClock
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="ok")]])
    sent = await bot.send_message(USER, "menu", reply_markup=keyboard)
    await bot.edit_message_text("menu, edited", USER, sent.message_id, reply_markup=keyboard)
    await bot.send_document(USER, b"file body", filename="a.txt")

    assert await refused(bot.edit_message_text("edit", USER, sent.message_id)) == 1
    assert await refused(bot.edit_message_reply_markup(USER, sent.message_id)) == 1
    assert await refused(bot.send_document(USER, b"again", filename="b.txt")) == 1
    assert bot_api.last_text(USER) is None  # the document is the newest; the edits failed
    assert bot_api.message(USER, sent.message_id).text == "menu, edited"
    clock.advance(1)
    await bot.edit_message_text("edit", USER, sent.message_id)
    assert bot_api.message(USER, sent.message_id).text == "edit"


async def test_the_per_chat_rate_sets_retry_after(clock: ManualClock) -> None:
    async with FakeBotApi(
        flood_limits=FloodLimits(chat_per_second=0.25, chat_burst=1), clock=clock
    ) as fake:
        fake.add_user(USER)
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            await bot.send_message(USER, "one")
            assert await refused(bot.send_message(USER, "two")) == 4
            clock.advance(2.5)
            assert await refused(bot.send_message(USER, "two")) == 2  # 1.5 s rounded up
            clock.advance(1.5)
            await bot.send_message(USER, "two")


# -- groups and the whole bot --------------------------------------------------------------------


async def test_a_group_takes_twenty_a_minute(clock: ManualClock) -> None:
    limits = FloodLimits(chat_burst=30)  # the group's own allowance is what is measured
    async with FakeBotApi(flood_limits=limits, clock=clock) as fake:
        fake.add_chat(GROUP, title="Reviewers")
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            for n in range(20):
                await bot.send_message(GROUP, f"card {n}")
            # One more token comes every 3 s (20 a minute).
            assert await refused(bot.send_message(GROUP, "card 20")) == 3
            clock.advance(2)
            assert await refused(bot.send_message(GROUP, "card 20")) == 1
            clock.advance(1)
            await bot.send_message(GROUP, "card 20")
            assert await refused(bot.send_message(GROUP, "card 21")) == 3
            assert len(fake.messages(GROUP)) == 21


async def test_a_group_also_keeps_the_per_chat_pace(bot: Bot, bot_api: FakeBotApi) -> None:
    for n in range(3):
        await bot.send_message(GROUP, f"card {n}")
    assert await refused(bot.send_message(GROUP, "card 3")) == 1


async def test_the_whole_bot_takes_thirty_a_second(clock: ManualClock) -> None:
    async with FakeBotApi(flood_limits=FloodLimits(), clock=clock) as fake:
        people = range(6001, 6032)
        for person in people:
            fake.add_user(person)
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            for person in people[:30]:
                await bot.send_message(person, "news")  # one each: no chat is over its pace
            assert await refused(bot.send_message(people[30], "news")) == 1
            clock.advance(0.05)  # one and a half tokens back
            await bot.send_message(people[30], "news")
            assert await refused(bot.send_message(people[0], "more news")) == 1
            assert fake.flood_refusals == 2


# -- what is not limited, and the wire ------------------------------------------------------------


async def test_answers_actions_drafts_deletes_and_polls_are_not_limited(
    bot: Bot, bot_api: FakeBotApi
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="ok")]])
    sent = await bot.send_message(USER, "menu", reply_markup=keyboard)
    await bot.send_message(USER, "two")
    extra = await bot.send_message(USER, "three")
    await refused(bot.send_message(USER, "over the burst"))

    for n in range(10):
        query_id = bot_api.user_presses(USER, sent.message_id, "ok")
        assert await bot.answer_callback_query(query_id, text=f"pressed {n}")
        assert await bot.send_chat_action(USER, "typing")
        assert await bot.send_message_draft(USER, n + 1, f"streaming {n}")
        await bot.get_chat(USER)
        await bot.get_updates(timeout=0)
    assert await bot.delete_message(USER, extra.message_id)

    assert bot_api.flood_refusals == 1


async def test_a_refusal_looks_like_telegrams_on_the_wire(bot_api: FakeBotApi) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(4):
            async with session.post(
                f"{bot_api.base_url}{bot_api.token}/sendMessage",
                json={"chat_id": USER, "text": "hi"},
            ) as response:
                status, body = response.status, await response.json()

    assert status == 429
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }


async def test_the_limits_are_off_unless_switched_on(clock: ManualClock) -> None:
    async with FakeBotApi(clock=clock) as fake:
        fake.add_user(USER)
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            for n in range(40):
                await bot.send_message(USER, f"message {n}")
            fake.flood_limits = FloodLimits()  # switched on later, with full buckets
            for n in range(3):
                await bot.send_message(USER, f"burst {n}")
            await refused(bot.send_message(USER, "too soon"))
            fake.flood_limits = None
            await bot.send_message(USER, "off again")
        assert len(fake.messages(USER)) == 44 and fake.flood_refusals == 1


def test_the_gate_refuses_without_taking_a_token() -> None:
    clock = ManualClock()
    gate = FloodGate(FloodLimits(chat_burst=1), clock)

    assert gate.admit(USER, group=False) is None
    assert [gate.admit(USER, group=False) for _ in range(5)] == [1] * 5
    clock.advance(1)
    assert gate.admit(USER, group=False) is None
    assert gate.refusals == 5
