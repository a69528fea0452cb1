"""Two or three ``contexor run`` processes on one database and Redis (docs/scaling.md).

The fake Bot API runs in the test process and answers a second, concurrent ``getUpdates`` with
409 Conflict as Telegram does; so a 409 anywhere means two replicas polled at once.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.texts import t
from bot.update_queue import stream_key
from bot.webhook import SECRET_HEADER
from core.settings import Settings
from db.models import TelegramLink
from tests.fakes.bot_api import FakeBotApi
from tests.support.replicas import Replica, replica_env
from tests.support.sms import last_code

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

LEASE = "2"
POLLING = ("--no-scheduler", "--no-api")
LEADS = r"leads the bot \(lease token"
# Generous bounds for a loaded machine; the lease itself is 2 s.
TAKEOVER_TIMEOUT = 20.0
REPLY_TIMEOUT = 20.0


def _conflicts(fake: FakeBotApi) -> list[str]:
    return [str(c.description) for c in fake.calls_to("getUpdates") if c.error_code == 409]


async def _reply(fake: FakeBotApi, chat_id: int, text: str, *, nth: int) -> str:
    """Send ``text``; wait for the chat's ``nth`` bot message and return its text."""
    fake.user_sends_text(chat_id, text)
    await fake.wait_for_calls("sendMessage", nth, chat_id=chat_id, timeout=REPLY_TIMEOUT)
    return fake.messages(chat_id, from_bot=True)[nth - 1].text or ""


async def test_one_replica_polls_and_another_continues_the_conversation_after_kill_9(
    bot_settings: Settings, db: str, clean_redis, bot_api: FakeBotApi, tmp_path: Path
) -> None:
    short = replica_env(bot_settings, BOT_LEASE_SECONDS=LEASE)
    # b's own lease is long: when b hands over to c on SIGTERM, only the release can be quick.
    long = replica_env(bot_settings, BOT_LEASE_SECONDS="120")
    user = 310_001
    async with Replica("a", short, *POLLING, cwd=tmp_path) as a:
        await a.wait_for(LEADS)
        async with Replica("b", long, *POLLING, cwd=tmp_path) as b:
            assert await _reply(bot_api, user, "/start", nth=1) == t("fa", "bot.link.welcome")
            await _reply(bot_api, user, "09121234567", nth=2)
            assert b.count(LEADS) == 0 and not _conflicts(bot_api)

            await a.kill()
            code = last_code(bot_settings, "+989121234567")
            await _reply(bot_api, user, code, nth=3)  # the conversation goes on at b
            assert b.count(LEADS) == 1
            assert await TelegramLink.exists(telegram_user_id=user)
            leader, token = re.search(
                r"instance (\S+) leads the bot \(lease token (\d+)", b.log
            ).groups()
            report = await _status(long, tmp_path)
            assert f"bot lease: held by {leader} since" in report and f"(token {token}," in report
            assert f"{leader}  leader  parts=bot" in report

            async with Replica("c", short, *POLLING, cwd=tmp_path) as c:
                assert c.count(LEADS) == 0
                assert await b.stop() == 0
                await c.wait_for(LEADS, timeout=TAKEOVER_TIMEOUT)
                assert "bot lease released" in b.log
                await _reply(bot_api, user, "/help", nth=4)
    assert not _conflicts(bot_api)


async def test_a_paused_leader_drops_the_batch_it_took_once_another_has_taken_over(
    bot_settings: Settings, db: str, clean_redis, bot_api: FakeBotApi, tmp_path: Path
) -> None:
    env = replica_env(bot_settings, BOT_LEASE_SECONDS=LEASE)
    user = 320_001
    async with Replica("a", env, *POLLING, cwd=tmp_path) as a:
        await a.wait_for(LEADS)
        async with Replica("b", env, *POLLING, cwd=tmp_path) as b:
            await _reply(bot_api, user, "/start", nth=1)
            # a holds a long poll; stop it there, then the update is answered into that poll.
            await bot_api.wait_until(lambda: bot_api.waiting_polls == 1, timeout=REPLY_TIMEOUT)
            a.signal(signal.SIGSTOP)
            await _wait(a.is_stopped)
            bot_api.user_sends_text(user, "/help")
            await b.wait_for(LEADS, timeout=TAKEOVER_TIMEOUT)
            await bot_api.wait_for_calls("sendMessage", 2, chat_id=user, timeout=REPLY_TIMEOUT)

            a.signal(signal.SIGCONT)
            # a resumes with the /help in its socket. Whichever it notices first, its failed
            # renewal or the fence on that batch, it must drop the batch and poll no more.
            await a.wait_for("lost the bot lease")
            # b still leads and answers; a's copy of /help was never processed (a user's
            # updates are handled in order, so a duplicate would come before this answer).
            assert await _reply(bot_api, user, "/help", nth=3) == t("fa", "bot.help.unlinked")
            texts = [m.text for m in bot_api.messages(user, from_bot=True)]
            assert texts[1:] == [t("fa", "bot.help.unlinked")] * 2
    assert not _conflicts(bot_api)


async def _status(env: dict[str, str], cwd: Path) -> str:
    """``contexor status`` with a replica's settings; its report (exit status 0)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "status",
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def _wait(predicate) -> None:
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110 (/proc offers nothing to await)
            await asyncio.sleep(0.01)


HOOK = "https://bot.example.test/tg/hook"
SECRET = "replica-webhook-secret_0123"


async def test_webhook_replicas_queue_every_update_for_the_leader_in_order_per_user(
    bot_settings: Settings, db: str, clean_redis, bot_api: FakeBotApi, tmp_path: Path
) -> None:
    env = replica_env(
        bot_settings,
        BOT_LEASE_SECONDS=LEASE,
        TELEGRAM_WEBHOOK_URL=HOOK,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
    )
    help_text, welcome = t("fa", "bot.help.unlinked"), t("fa", "bot.link.welcome")
    script = {"/help": help_text, "/start": welcome}
    steps = ["/help", "/start", "/start", "/help", "/start"]
    users = [330_001, 330_002]
    async with (
        Replica("a", env, "--no-scheduler", cwd=tmp_path) as a,
        Replica("b", env, "--no-scheduler", cwd=tmp_path) as b,
        aiohttp.ClientSession() as session,
    ):
        await a.wait_for(LEADS)
        assert b.count(LEADS) == 0
        hooks = [_api_url(replica) + "/tg/hook" for replica in (a, b)]
        poster = WebhookPoster(session, bot_api)
        for text in steps:  # the two users' updates, posted alternately to a and b
            for user in users:
                assert await poster.post(hooks[poster.sent % 2], user, text) == 200
        # Telegram repeats an update whose answer it missed: answered, not processed again.
        assert await poster.repost(hooks[1], poster.payloads[0]) == 200
        for user in users:
            assert await poster.post(hooks[0], user, "/help") == 200
            await bot_api.wait_for_calls(
                "sendMessage", len(steps) + 1, chat_id=user, timeout=REPLY_TIMEOUT
            )
            texts = [m.text for m in bot_api.messages(user, from_bot=True)]
            assert texts == [script[s] for s in steps] + [help_text]
        assert b.count(LEADS) == 0

        # Updates acknowledged while the leader is stuck are processed by the next one.
        a.signal(signal.SIGSTOP)
        await _wait(a.is_stopped)
        for text in ("/start", "/help"):
            assert await poster.post(hooks[1], users[0], text) == 200
        await a.kill()
        await b.wait_for(LEADS, timeout=TAKEOVER_TIMEOUT)
        await bot_api.wait_for_calls(
            "sendMessage", len(steps) + 3, chat_id=users[0], timeout=REPLY_TIMEOUT
        )
        texts = [m.text for m in bot_api.messages(users[0], from_bot=True)]
        assert texts[-2:] == [welcome, help_text]
        assert await b.stop() == 0  # a clean stop acknowledges what it processed
    assert await clean_redis.xlen(stream_key(bot_settings.redis_key_prefix)) == 0


class WebhookPoster:
    """Posts Telegram's webhook requests for messages users send in the fake."""

    def __init__(self, session: aiohttp.ClientSession, fake: FakeBotApi) -> None:
        self._session = session
        self._fake = fake
        self.payloads: list[dict] = []

    @property
    def sent(self) -> int:
        return len(self.payloads)

    async def post(self, url: str, user: int, text: str) -> int:
        message = self._fake.user_sends_text(user, text)
        payload = {"update_id": 5000 + self.sent, "message": message.to_json()}
        self.payloads.append(payload)
        return await self.repost(url, payload)

    async def repost(self, url: str, payload: dict) -> int:
        headers = {SECRET_HEADER: SECRET}
        async with self._session.post(url, json=payload, headers=headers) as response:
            return response.status


def _api_url(replica: Replica) -> str:
    line = next(line for line in replica.lines if "API listening on" in line)
    return line.rsplit("API listening on ", 1)[1].split()[0]
