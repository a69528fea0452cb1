"""Conversation state: an interruption keeps the flow it interrupts (``interrupt``/``finish``)."""

from __future__ import annotations

import pytest

from core.container import Services
from core.services.conversations import RESUME

pytestmark = pytest.mark.sqlite

CHAT = USER = 7_001


async def test_finish_returns_to_the_interrupted_flow_once(services: Services) -> None:
    conversations = services.conversations
    await conversations.set(CHAT, USER, "vars.asking", {"index": 2})
    await conversations.interrupt(CHAT, USER, "review.reason", {"id": 5})
    reason = await conversations.get(CHAT, USER)
    assert reason.state == "review.reason"
    assert reason.data == {"id": 5, RESUME: {"state": "vars.asking", "data": {"index": 2}}}
    # A second Reject before answering replaces the first, keeping the flow kept by the first.
    await conversations.interrupt(CHAT, USER, "review.reason", {"id": 6})
    again = await conversations.get(CHAT, USER)
    assert again.data == {"id": 6, RESUME: {"state": "vars.asking", "data": {"index": 2}}}

    assert await conversations.finish(CHAT, USER, again.data) is True
    back = await conversations.get(CHAT, USER)
    assert (back.state, back.data) == ("vars.asking", {"index": 2})


async def test_nothing_to_return_to_finishes_idle(services: Services) -> None:
    conversations = services.conversations
    await conversations.interrupt(CHAT, USER, "review.reason", {"id": 5})
    assert (await conversations.get(CHAT, USER)).data == {"id": 5}
    assert await conversations.finish(CHAT, USER, {"id": 5}) is False
    assert (await conversations.get(CHAT, USER)).state is None


async def test_a_state_owned_by_a_running_task_is_not_kept(services: Services) -> None:
    conversations = services.conversations
    await conversations.set(CHAT, USER, "compose.generating", {"job": 9})
    await conversations.interrupt(
        CHAT, USER, "review.reason", {"id": 5}, keep_unless=frozenset({"compose.generating"})
    )
    assert (await conversations.get(CHAT, USER)).data == {"id": 5}
