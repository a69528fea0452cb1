"""The bot's rate limiter: replies skip the overall 30 a second, bot-initiated sends keep it.

Counted, not timed: the overall limiter of ``AIORateLimiter`` is an ``aiolimiter`` bucket; a
call that passes through it takes capacity from it, one that skips it leaves it full.
"""

from __future__ import annotations

from typing import Any

from bot.pacing import ReplyAwareRateLimiter, replying_to, stop_replying

PRIVATE_CHAT = 42


def _limiter() -> ReplyAwareRateLimiter:
    # 3 an hour: a call through the overall bucket visibly takes a third of it
    return ReplyAwareRateLimiter(overall_max_rate=3, overall_time_period=3600, max_retries=1)


async def _send(limiter: ReplyAwareRateLimiter, chat_id: int, seen: list[Any]) -> None:
    async def callback(endpoint: str, data: dict[str, Any]) -> bool:
        seen.append(data)
        return True

    data = {"chat_id": chat_id, "text": "hi"}
    await limiter.process_request(callback, ("sendMessage", data), {}, "sendMessage", data, None)


def _overall_capacity(limiter: ReplyAwareRateLimiter) -> bool:
    bucket = limiter._base_limiter  # the overall limiter of PTB's AIORateLimiter
    assert bucket is not None
    return bucket.has_capacity(3)


async def test_replies_to_the_chat_being_answered_skip_the_overall_limit() -> None:
    limiter, seen = _limiter(), []
    token = replying_to(PRIVATE_CHAT)
    try:
        for _ in range(5):
            await _send(limiter, PRIVATE_CHAT, seen)
    finally:
        stop_replying(token)
    assert _overall_capacity(limiter)
    # the request itself still names its chat
    assert [data["chat_id"] for data in seen] == [PRIVATE_CHAT] * 5


async def test_sends_the_bot_starts_take_the_overall_limit() -> None:
    limiter, seen = _limiter(), []
    await _send(limiter, PRIVATE_CHAT, seen)  # no update being answered: the outbox worker
    assert not _overall_capacity(limiter)


async def test_a_send_to_another_chat_while_answering_takes_the_overall_limit() -> None:
    limiter, seen = _limiter(), []
    token = replying_to(PRIVATE_CHAT)
    try:
        await _send(limiter, PRIVATE_CHAT + 1, seen)
    finally:
        stop_replying(token)
    assert not _overall_capacity(limiter)


async def test_a_group_keeps_the_overall_limit_even_when_answered() -> None:
    limiter, seen = _limiter(), []
    token = replying_to(-100)
    try:
        await _send(limiter, -100, seen)
    finally:
        stop_replying(token)
    assert not _overall_capacity(limiter)
