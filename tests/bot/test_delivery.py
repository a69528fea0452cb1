"""The delivery worker sends outbox rows with a real ``telegram.Bot`` over HTTP to the fake
Bot API, and settles each row by Telegram's answer (bot/delivery.py)."""

from __future__ import annotations

import asyncio
import datetime as dtm
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telegram import Bot, Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters
from tortoise.transactions import in_transaction

from bot.delivery import DeliveryWorker, register_reachability
from core.clock import FrozenClock
from core.container import Services, build_services
from core.settings import Settings
from db.models import Content, Language, OutboxMessage, OutboxStatus, Role, TelegramLink, User
from tests.bot.harness import BotHarness
from tests.conftest import TEST_SECRET
from tests.fakes.bot_api import FakeBotApi
from tests.support.factories import (
    add_member,
    make_content,
    make_org,
    make_project,
    make_user,
    make_workspace,
    principal_for,
)

ADMIN_TG, EDITOR_TG, WRITER_TG = 9001, 9002, 9003
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class World:
    admin: User
    editor: User
    writer: User
    content: Content


@pytest.fixture
async def world(db: str, bot_api: FakeBotApi) -> World:
    org = await make_org()
    admin = await add_member(org, Role.ADMIN, await make_user(full_name="Ada"))
    editor = await add_member(
        org, Role.EDITOR, await make_user(full_name="Eddie", language=Language.EN)
    )
    writer = await add_member(org, Role.WRITER, await make_user(full_name="Wanda"))
    for user, tg in ((admin, ADMIN_TG), (editor, EDITOR_TG), (writer, WRITER_TG)):
        await TelegramLink.create(user=user, telegram_user_id=tg, chat_id=tg)
        bot_api.add_user(tg)
    project = await make_project(await make_workspace(org), name="Blog")
    content = await make_content(project, writer, title="Spring sale", body="First line\nSecond")
    await Content.filter(id=content.id).update(word_count=3)
    return World(admin, editor, writer, content)


MakeServices = Callable[..., Services]


@pytest.fixture
async def make_services(
    settings: Settings, clock: FrozenClock, db: str
) -> AsyncIterator[MakeServices]:
    built: list[Services] = []

    def make(**changes: object) -> Services:
        services = build_services(settings.model_copy(update=changes), clock=clock)
        built.append(services)
        return services

    yield make
    for services in built:
        await services.aclose()


async def statuses() -> list[tuple[int, OutboxStatus]]:
    return [(r.user_id, r.status) for r in await OutboxMessage.all().order_by("user_id")]


def send_calls(fake: FakeBotApi) -> list:
    return fake.calls_to("sendMessage")


async def tell_writer(services: Services, title: str) -> None:
    """One generation_finished row for the writer (whose Telegram id is WRITER_TG)."""
    writer = await User.get(telegram_link__telegram_user_id=WRITER_TG)
    async with in_transaction() as conn:
        await services.outbox.enqueue(
            connection=conn,
            user_ids=[writer.id],
            kind="generation_finished",
            payload={"content_id": 1, "title": title, "ok": True},
        )


async def submit(services: Services, world: World) -> None:
    await services.content.submit(
        actor=await principal_for(world.writer), content_id=world.content.id
    )


# --- the happy path ---------------------------------------------------------------------------


async def test_each_reviewer_gets_the_card_once_in_their_language(
    bot: Bot, bot_api: FakeBotApi, world: World, services: Services
) -> None:
    await submit(services, world)
    worker = DeliveryWorker(bot, services)

    report = await worker.deliver_once()

    assert (report.claimed, report.sent) == (2, 2)
    persian = bot_api.last_message(ADMIN_TG)
    english = bot_api.last_message(EDITOR_TG)
    assert persian.text.startswith("📝 محتوای تازه برای بررسی\n«Spring sale»")
    assert "نویسنده: Wanda" in persian.text and persian.text.endswith("First line\nSecond")
    assert english.text.startswith("📝 New content for review\n“Spring sale”\nProject: Blog")
    for user, chat, message in (
        (world.admin, ADMIN_TG, persian),
        (world.editor, EDITOR_TG, english),
    ):
        row = await OutboxMessage.get(user_id=user.id)
        assert (row.status, row.sent_chat_id, row.sent_message_id) == (
            OutboxStatus.SENT,
            chat,
            message.message_id,
        )
    assert (await worker.deliver_once()).claimed == 0
    assert len(send_calls(bot_api)) == 2


async def test_the_running_worker_delivers_and_stops_cleanly(
    bot: Bot, bot_api: FakeBotApi, world: World, make_services: MakeServices
) -> None:
    services = make_services(outbox_poll_seconds=0.05)
    worker = DeliveryWorker(bot, services)
    task = worker.start()
    try:
        await submit(services, world)
        await bot_api.wait_for_calls("sendMessage", 2)
        await services.content.approve(
            actor=await principal_for(world.editor), content_id=world.content.id
        )
        await bot_api.wait_for_calls("sendMessage", 3)
    finally:
        await worker.stop()
    assert task.done() and not task.cancelled()
    assert bot_api.last_message(WRITER_TG).text == "✅ «Spring sale» را Eddie تأیید کرد."
    assert {status for _, status in await statuses()} == {OutboxStatus.SENT}


# --- a crash between the commit and the send --------------------------------------------------

CRASHING_PROCESS = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    import db
    from core.container import build_services
    from core.security.principal import load_principal
    from core.settings import Settings

    async def main(database_url, data_dir, secret, content_id, writer_id):
        await db.init(database_url)
        settings = Settings(
            _env_file=None, database_url=database_url, data_dir=data_dir, secret_key=secret,
            sms_backend="console", llm_backend="offline", outbox_lease_seconds=30,
        )
        services = build_services(settings)
        writer = await load_principal(writer_id)
        await services.content.submit(actor=writer, content_id=content_id)
        claimed = await services.outbox.claim()  # a worker took the rows and was about to send
        print(len(claimed), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
    """
)


async def test_a_process_killed_between_commit_and_send_loses_nothing(
    bot: Bot,
    bot_api: FakeBotApi,
    world: World,
    services: Services,
    clock: FrozenClock,
    database_url: str,
    tmp_path: Path,
) -> None:
    args = [database_url, str(tmp_path), TEST_SECRET, str(world.content.id), str(world.writer.id)]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CRASHING_PROCESS,
        *args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == -signal.SIGKILL, err.decode()
    assert out.decode().strip() == "2"
    rows = await OutboxMessage.all()
    assert {r.status for r in rows} == {OutboxStatus.SENDING}
    assert (await Content.get(id=world.content.id)).status == "review"
    worker = DeliveryWorker(bot, services)

    # The restarted worker leaves the dead one's rows alone while its lease lasts ...
    clock.current = min(r.lease_until for r in rows) - timedelta(seconds=1)
    assert (await worker.deliver_once()).claimed == 0
    # ... then sends each exactly once.
    clock.current = datetime.now(UTC) + timedelta(seconds=31)
    assert (await worker.deliver_once()).sent == 2
    clock.advance(hours=1)
    assert (await worker.deliver_once()).claimed == 0
    assert sorted(c.chat_id for c in send_calls(bot_api)) == [ADMIN_TG, EDITOR_TG]
    assert {status for _, status in await statuses()} == {OutboxStatus.SENT}


# --- Telegram's errors ---------------------------------------------------------------------------


async def test_a_429_pauses_for_retry_after_without_using_a_try(
    bot: Bot, bot_api: FakeBotApi, world: World, make_services: MakeServices, clock: FrozenClock
) -> None:
    services = make_services(outbox_max_attempts=1)
    for title in ("one", "two", "three"):
        await tell_writer(services, title)
    bot_api.fail_next("sendMessage", 429, retry_after=30)
    worker = DeliveryWorker(bot, services)

    report = await worker.deliver_once()

    assert (report.sent, report.retried, report.pause_seconds) == (0, 3, 30)
    assert len(send_calls(bot_api)) == 1  # the rest of the batch was handed back untried
    rows = await OutboxMessage.all()
    assert {(r.status, r.attempts) for r in rows} == {(OutboxStatus.PENDING, 0)}
    assert {r.next_attempt_at for r in rows} == {clock.now() + timedelta(seconds=30)}
    clock.advance(seconds=29)
    assert (await worker.deliver_once()).claimed == 0
    clock.advance(seconds=1)
    assert (await worker.deliver_once()).sent == 3
    texts = [m.text for m in bot_api.messages(WRITER_TG, from_bot=True)]
    assert texts == [f"✨ متن «{title}» آماده است." for title in ("one", "two", "three")]


async def test_a_500_is_retried_with_backoff(
    bot: Bot, bot_api: FakeBotApi, world: World, make_services: MakeServices, clock: FrozenClock
) -> None:
    services = make_services(outbox_backoff_seconds=5)
    await services.content.submit(
        actor=await principal_for(world.editor), content_id=world.content.id
    )  # admin only
    bot_api.fail_next("sendMessage", 500)
    worker = DeliveryWorker(bot, services)

    assert (await worker.deliver_once()).retried == 1
    row = await OutboxMessage.get(user_id=world.admin.id)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)
    assert row.last_error == "NetworkError: Internal Server Error"
    clock.advance(seconds=4)
    assert (await worker.deliver_once()).claimed == 0
    clock.advance(seconds=1)
    assert (await worker.deliver_once()).sent == 1
    assert bot_api.last_message(ADMIN_TG).text.startswith("📝")


async def test_a_timeout_is_retried(
    bot: Bot, bot_api: FakeBotApi, world: World, make_services: MakeServices, clock: FrozenClock
) -> None:
    services = make_services(outbox_send_timeout_seconds=0.2)
    await services.content.submit(
        actor=await principal_for(world.editor), content_id=world.content.id
    )
    bot_api.delays["sendMessage"] = 1.0
    worker = DeliveryWorker(bot, services)

    assert (await worker.deliver_once()).retried == 1
    row = await OutboxMessage.get(user_id=world.admin.id)
    assert row.status == OutboxStatus.PENDING and row.last_error.startswith("TimedOut")


async def test_tries_are_bounded_and_the_reason_is_kept(
    bot: Bot, bot_api: FakeBotApi, world: World, make_services: MakeServices, clock: FrozenClock
) -> None:
    services = make_services(outbox_max_attempts=3, outbox_backoff_seconds=1)
    await services.content.submit(
        actor=await principal_for(world.editor), content_id=world.content.id
    )
    for _ in range(3):
        bot_api.fail_next("sendMessage", 502)
    worker = DeliveryWorker(bot, services)
    for _ in range(3):
        await worker.deliver_once()
        clock.advance(minutes=1)

    row = await OutboxMessage.get(user_id=world.admin.id)
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, 3)
    assert row.last_error.startswith("gave up after 3 tries: NetworkError")
    assert "Bad Gateway" in row.last_error
    assert (await worker.deliver_once()).claimed == 0
    assert len(send_calls(bot_api)) == 3


async def test_a_400_is_given_up_at_once(
    bot: Bot, bot_api: FakeBotApi, world: World, services: Services
) -> None:
    await services.content.submit(
        actor=await principal_for(world.editor), content_id=world.content.id
    )
    bot_api.fail_next("sendMessage", 400, "Bad Request: chat not found")
    assert (await DeliveryWorker(bot, services).deliver_once()).failed == 1
    row = await OutboxMessage.get(user_id=world.admin.id)
    assert (row.status, row.last_error) == (OutboxStatus.FAILED, "400: Chat not found")


async def test_a_403_stops_sends_to_that_person_until_they_write_again(
    bot_api: FakeBotApi, world: World, services: Services
) -> None:
    application = (
        ApplicationBuilder()
        .token(bot_api.token)
        .base_url(bot_api.base_url)
        .base_file_url(bot_api.base_file_url)
        .build()
    )
    register_reachability(application, services)
    handled = asyncio.Event()

    async def feature_handler(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        handled.set()  # group 0 runs after the reachability handler of group -1

    application.add_handler(MessageHandler(filters.TEXT, feature_handler))

    async def notify_writer(title: str) -> None:
        await tell_writer(services, title)

    async with application:
        worker = DeliveryWorker(application.bot, services)
        await notify_writer("one")
        await notify_writer("two")
        bot_api.user_blocks_bot(WRITER_TG)

        report = await worker.deliver_once()

        assert (report.sent, report.failed) == (0, 2)
        assert len(send_calls(bot_api)) == 1  # the second row never reached Telegram
        one, two = await OutboxMessage.all().order_by("id")
        assert one.last_error == "403: Forbidden: bot was blocked by the user"
        assert two.last_error == "recipient_unreachable"
        assert (await TelegramLink.get(user_id=world.writer.id)).unreachable_since is not None
        await notify_writer("three")  # nothing is written for an unreachable person
        assert await OutboxMessage.all().count() == 2

        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=5))
        try:
            bot_api.user_sends_text(WRITER_TG, "hello again")
            await asyncio.wait_for(handled.wait(), timeout=5)
        finally:
            await application.updater.stop()
            await application.stop()

        assert (await TelegramLink.get(user_id=world.writer.id)).unreachable_since is None
        await notify_writer("four")
        assert (await worker.deliver_once()).sent == 1
    assert bot_api.last_message(WRITER_TG).text == "✨ متن «four» آماده است."


async def test_a_person_without_a_link_any_more_is_given_up(
    bot: Bot, bot_api: FakeBotApi, world: World, services: Services
) -> None:
    await services.content.submit(
        actor=await principal_for(world.editor), content_id=world.content.id
    )
    await TelegramLink.filter(user_id=world.admin.id).delete()
    assert (await DeliveryWorker(bot, services).deliver_once()).failed == 1
    assert (await OutboxMessage.get(user_id=world.admin.id)).last_error == "not_linked"
    assert send_calls(bot_api) == []


# --- wiring: the product's bot (bot/app.py, bot/runtime.py) ---------------------------------------


async def test_the_running_product_bot_delivers_and_tracks_reachability(
    harness: BotHarness,
) -> None:
    editor = await harness.linked_user(Role.EDITOR, language="en")
    writer = await harness.linked_user(Role.WRITER)
    assert harness.services is not None and harness.project is not None and writer.user
    content = await make_content(harness.project, writer.user, title="Wired", body="Body text")
    await Content.filter(id=content.id).update(word_count=2)

    await harness.services.content.submit(
        actor=await principal_for(writer.user), content_id=content.id
    )

    await harness.fake.wait_for_calls("sendMessage", chat_id=editor.id, timeout=15)
    assert editor.last_text is not None
    assert editor.last_text.startswith("📝 New content for review\n“Wired”")
    assert editor.user is not None
    await harness.services.outbox.mark_unreachable(user_id=editor.user.id)
    await editor.send("hello")
    assert (await TelegramLink.get(user_id=editor.user.id)).unreachable_since is None
