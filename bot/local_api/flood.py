"""Telegram's flood limits for the local Bot API: token buckets per chat, per group and overall.

Telegram documents its limits loosely (Bots FAQ, "My bot is hitting limits, how do I avoid
this?"): in a single chat avoid more than one message a second (short bursts pass, then 429);
in a group no more than 20 messages a minute; across the bot about 30 messages a second for bulk
notifications. A refused call gets 429 "Too Many Requests: retry after N" with
``parameters.retry_after = N`` (whole seconds), and waiting N seconds is enough.

Counted are the calls that put a message in a chat or change one: the ``send*`` methods of
messages and the ``editMessage*`` methods. Not counted: ``sendChatAction`` and
``sendMessageDraft`` (no message; the streamed preview has its own knob, ``stream_interval``),
``answerCallbackQuery``, ``deleteMessage``, ``getUpdates`` and the other reads and settings.
A refused call takes nothing from any bucket; an admitted one takes a token from each bucket it
passes (its chat's, its group's, the overall one).

A token bucket of ``capacity`` tokens refilled at ``rate`` a second is a limit of ``rate`` with
bursts up to ``capacity``. It is a test double's, so it is hand-written, synchronous (the local
API dispatches without awaiting) and reads an injectable monotonic clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

# Methods that send or edit a message (the local API implements sendMessage, sendDocument,
# editMessageText and editMessageReplyMarkup; the others are listed for when it grows them).
LIMITED_METHODS = frozenset(
    [
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendVideoNote",
        "sendSticker",
        "sendMediaGroup",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendDice",
        "copyMessage",
        "forwardMessage",
        "editMessageText",
        "editMessageCaption",
        "editMessageMedia",
        "editMessageReplyMarkup",
    ]
)


@dataclass(frozen=True)
class FloodLimits:
    """The rates; the defaults are Telegram's documented ones."""

    chat_per_second: float = 1.0  # any one chat, private or group
    chat_burst: int = 3  # a short burst a chat may take at once
    group_per_minute: float = 20.0  # any one group or channel, on top of the chat limit
    overall_per_second: float = 30.0  # the whole bot
    overall_burst: int = 30


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``rate`` a second; starts full."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._at = now

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0: one is there now)."""
        self._refill(now)
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self._tokens -= 1

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now


class FloodGate:
    """Admits or refuses a limited call to a chat; counts the refusals."""

    def __init__(self, limits: FloodLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self.refusals = 0
        self._overall = TokenBucket(limits.overall_per_second, limits.overall_burst, clock())
        self._chats: dict[int, TokenBucket] = {}
        self._groups: dict[int, TokenBucket] = {}

    def admit(self, chat_id: int, *, group: bool) -> int | None:
        """None when the call may go (its tokens are taken), else Telegram's ``retry_after``:
        the whole seconds, at least 1, after which every bucket it needs has a token."""
        now = self.clock()
        buckets = [self._overall, self._chat_bucket(chat_id, now)]
        if group:
            buckets.append(self._group_bucket(chat_id, now))
        wait = max(bucket.wait(now) for bucket in buckets)
        if wait > 0:
            self.refusals += 1
            return max(1, math.ceil(wait - 1e-9))  # float dust must not add a second
        for bucket in buckets:
            bucket.take(now)
        return None

    def _chat_bucket(self, chat_id: int, now: float) -> TokenBucket:
        if chat_id not in self._chats:
            limits = self.limits
            self._chats[chat_id] = TokenBucket(limits.chat_per_second, limits.chat_burst, now)
        return self._chats[chat_id]

    def _group_bucket(self, chat_id: int, now: float) -> TokenBucket:
        if chat_id not in self._groups:
            per_minute = self.limits.group_per_minute
            self._groups[chat_id] = TokenBucket(per_minute / 60, per_minute, now)
        return self._groups[chat_id]
