"""The runtime: webhook mode, update order per user, the error handler, restarts."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from pydantic import SecretStr
from telegram import Update

from bot.app import build_application
from bot.processor import PerUserUpdateProcessor
from bot.runtime import start_bot
from bot.webhook import ALLOWED_UPDATES, SECRET_HEADER, webhook_route
from core.api.app import create_app
from core.container import build_services
from db.models import BotConversation, TelegramLink
from tests.bot.harness import BotHarness
from tests.fakes.bot_api import FakeBotApi

SECRET = "s3cret-token_for-tests"


async def test_webhook_mode_refuses_without_the_secret_and_handles_with_it(
    aiohttp_client, bot_settings, clock, db, fresh_keys, bot_api: FakeBotApi
) -> None:
    settings = bot_settings.model_copy(
        update={
            "telegram_webhook_url": "https://bot.example.test/tg/hook",
            "telegram_webhook_secret": SecretStr(SECRET),
        }
    )
    services = build_services(settings, clock=clock)
    application = build_application(services, settings)
    assert application.updater is None
    handled: list[int] = []
    done = asyncio.Event()

    def mark(update: object) -> None:
        handled.append(update.update_id)
        done.set()

    application.update_processor.on_processed = mark
    client = await aiohttp_client(
        create_app(
            services,
            extra_routes=[webhook_route(settings, application=application, redis=services.redis)],
        )
    )
    async with AsyncExitStack() as stack:
        stack.push_async_callback(services.aclose)
        await start_bot(stack, application, webhook=True)
        assert bot_api.webhook is not None
        assert bot_api.webhook.url == "https://bot.example.test/tg/hook"
        assert bot_api.webhook.params["secret_token"] == SECRET
        assert bot_api.webhook.params["allowed_updates"] == ALLOWED_UPDATES
        assert not bot_api.calls_to("getUpdates")

        message = bot_api.user_sends_text(555, "/start")
        payload = {"update_id": 77, "message": message.to_json()}
        for headers in ({}, {SECRET_HEADER: "wrong"}):
            response = await client.post("/tg/hook", json=payload, headers=headers)
            assert response.status == 403
        assert not bot_api.calls_to("sendMessage")

        response = await client.post("/tg/hook", data=b"{not json", headers={SECRET_HEADER: SECRET})
        assert response.status == 400
        response = await client.post("/tg/hook", json=payload, headers={SECRET_HEADER: SECRET})
        assert response.status == 200
        async with asyncio.timeout(10):
            await done.wait()
        assert handled == [77]
        assert bot_api.last_text(555) == _fa("bot.link.welcome")


async def test_one_users_updates_run_in_order_while_others_run_alongside() -> None:
    processor = PerUserUpdateProcessor()
    events: list[str] = []
    release = asyncio.Event()

    def update(update_id: int, user_id: int) -> Update:
        return Update.de_json(
            {
                "update_id": update_id,
                "message": {
                    "message_id": update_id,
                    "date": 0,
                    "chat": {"id": user_id, "type": "private"},
                    "from": {"id": user_id, "is_bot": False, "first_name": "x"},
                    "text": "hi",
                },
            },
            None,
        )

    async def slow(name: str) -> None:
        events.append(f"{name} start")
        await release.wait()
        events.append(f"{name} end")

    async def quick(name: str) -> None:
        events.append(f"{name} start")
        events.append(f"{name} end")

    first = asyncio.create_task(processor.process_update(update(1, 10), slow("a1")))
    second = asyncio.create_task(processor.process_update(update(2, 10), quick("a2")))
    other = asyncio.create_task(processor.process_update(update(3, 20), quick("b1")))
    await asyncio.wait_for(other, timeout=5)  # user 20 is not held up by user 10
    assert events == ["a1 start", "b1 start", "b1 end"]
    release.set()
    await asyncio.gather(first, second)
    assert events[3:] == ["a1 end", "a2 start", "a2 end"]


async def test_a_failure_is_answered_in_the_users_language_without_details(
    harness: BotHarness,
) -> None:
    person = await harness.linked_user(language="en")
    harness.fake.fail_next("sendMessage", 500)
    text = await person.send("/help")
    assert text == harness.t("bot.error.internal", "en")
    assert "Traceback" not in text and "500" not in text


async def test_a_restart_mid_link_continues_with_the_code(harness: BotHarness) -> None:
    person = harness.user()
    await person.send("/start")
    await person.send("09121234567")
    await harness.restart()
    await person.send(harness.sms_code("+989121234567"))
    assert await TelegramLink.exists(telegram_user_id=person.id)


async def test_state_is_kept_per_chat_and_user(harness: BotHarness) -> None:
    conversations = harness.services.conversations
    await conversations.set(1, 7, "link.code", {"phone": "+989121234567"})
    await conversations.set(-100, 7, "drafts.title", {"id": 3})
    assert (await conversations.get(1, 7)).state == "link.code"
    assert (await conversations.get(-100, 7)).data == {"id": 3}
    assert (await conversations.get(1, 8)).state is None
    harness.clock.advance(hours=25)
    assert (await conversations.get(1, 7)).state is None
    assert await BotConversation.filter(telegram_user_id=7).count() == 2


def _fa(key: str) -> str:
    from bot.texts import t

    return t("fa", key)
