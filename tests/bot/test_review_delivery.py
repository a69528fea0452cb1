"""The delivery worker with review cards: group rows, and the edit rows that close a card
(bot/delivery.py with a real ``telegram.Bot`` over HTTP to the fake Bot API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from telegram import Bot

import bot.handlers.review  # noqa: F401  (registers the review card's keyboard)
from bot.delivery import DeliveryWorker
from bot.texts import moment
from core.clock import FrozenClock
from core.container import Services
from db.models import (
    AuditLog,
    Content,
    Language,
    Organization,
    OutboxMessage,
    OutboxStatus,
    Project,
    Role,
    TelegramLink,
    User,
)
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

ADMIN_TG, EDITOR_TG = 9101, 9102
GROUP = -1009876


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
    for user, tg in ((admin, ADMIN_TG), (editor, EDITOR_TG)):
        await TelegramLink.create(user=user, telegram_user_id=tg, chat_id=tg)
        bot_api.add_user(tg)
    bot_api.add_chat(GROUP)
    project = await make_project(await make_workspace(org), name="Blog")
    content = await make_content(project, writer, title="Spring sale", body="First\nSecond")
    await Content.filter(id=content.id).update(word_count=2)
    return World(admin, editor, writer, content)


async def row_of(kind: str, **filters: object) -> OutboxMessage:
    return await OutboxMessage.get(kind=kind, **filters)


async def test_a_decision_closes_each_copy_in_its_readers_language(
    bot: Bot, bot_api: FakeBotApi, world: World, services: Services
) -> None:
    await services.content.submit(
        actor=await principal_for(world.writer), content_id=world.content.id
    )
    worker = DeliveryWorker(bot, services)
    assert (await worker.deliver_once()).sent == 2
    persian, english = bot_api.last_message(ADMIN_TG), bot_api.last_message(EDITOR_TG)
    assert [b.callback_data for b in english.buttons] == [
        f"rv:a:{world.content.id}",
        f"rv:r:{world.content.id}",
        f"rv:f:{world.content.id}",
    ]
    card_text = english.text

    decided = await services.content.approve(
        actor=await principal_for(world.editor), content_id=world.content.id
    )
    report = await worker.deliver_once()
    assert report.sent == 2  # the two edits (the editor is the decider: the writer isn't linked)

    assert decided.decided_at is not None
    zone = services.settings.zone
    assert english.text == f"{card_text}\n\n✅ Approved by Eddie · " + moment(
        "en", decided.decided_at, zone
    )
    assert persian.text is not None and persian.text.endswith(
        "✅ Eddie تأیید کرد · " + moment("fa", decided.decided_at, zone)
    )
    assert "۱۴۰۵" in persian.text  # the Solar Hijri year, in Persian digits
    assert not english.buttons and not persian.buttons
    assert (await worker.deliver_once()).claimed == 0


async def test_an_edit_waits_for_its_card_and_a_lost_card_is_not_edited(
    bot: Bot, bot_api: FakeBotApi, world: World, services: Services, clock: FrozenClock
) -> None:
    await services.content.submit(
        actor=await principal_for(world.writer), content_id=world.content.id
    )
    admin_card = await row_of("content_submitted", user_id=world.admin.id)
    editor_card = await row_of("content_submitted", user_id=world.editor.id)
    # Another worker holds both cards (claimed, not sent yet).
    await OutboxMessage.filter(id__in=[admin_card.id, editor_card.id]).update(
        status=OutboxStatus.SENDING,
        attempts=1,
        lease_token="x" * 32,
        lease_until=clock.now() + timedelta(minutes=5),
    )
    await services.content.reject(
        actor=await principal_for(world.admin), content_id=world.content.id, reason="No"
    )
    worker = DeliveryWorker(bot, services)

    report = await worker.deliver_once()
    assert (report.claimed, report.retried, report.sent) == (2, 2, 0)
    waiting = await OutboxMessage.filter(kind="review_card_decided").order_by("id")
    assert {(row.status, row.attempts) for row in waiting} == {(OutboxStatus.PENDING, 0)}
    assert not bot_api.calls_to("editMessageText")

    # The admin's card goes out; the editor's is given up by its worker.
    sent = await bot.send_message(ADMIN_TG, "card")
    await OutboxMessage.filter(id=admin_card.id).update(
        status=OutboxStatus.SENT, sent_chat_id=ADMIN_TG, sent_message_id=sent.message_id
    )
    await OutboxMessage.filter(id=editor_card.id).update(status=OutboxStatus.FAILED)
    clock.advance(seconds=services.settings.outbox_poll_seconds + 1)
    report = await worker.deliver_once()
    assert (report.sent, report.failed) == (1, 1)
    [edit] = bot_api.calls_to("editMessageText")
    assert edit.params["chat_id"] == ADMIN_TG and edit.params["message_id"] == sent.message_id
    given_up = await OutboxMessage.get(kind="review_card_decided", user_id=world.editor.id)
    assert given_up.status == OutboxStatus.FAILED
    assert given_up.last_error == "the message to edit was never delivered"


async def test_an_edit_already_shown_counts_as_done_and_a_deleted_card_as_given_up(
    bot: Bot, bot_api: FakeBotApi, world: World, services: Services
) -> None:
    await services.content.submit(
        actor=await principal_for(world.writer), content_id=world.content.id
    )
    worker = DeliveryWorker(bot, services)
    await worker.deliver_once()
    bot_api.fail_next("editMessageText", 400, "Bad Request: message is not modified")
    bot_api.fail_next("editMessageText", 400, "Bad Request: message to edit not found")
    await services.content.approve(
        actor=await principal_for(world.admin), content_id=world.content.id
    )
    report = await worker.deliver_once()
    assert (report.sent, report.failed) == (1, 1)
    statuses = {row.status for row in await OutboxMessage.filter(kind="review_card_decided")}
    assert statuses == {OutboxStatus.SENT, OutboxStatus.FAILED}


async def test_a_group_card_goes_to_the_group_and_a_403_blames_nobody(
    bot: Bot, bot_api: FakeBotApi, world: World, services: Services
) -> None:
    org_id = world.content.organization_id
    await services.review.bind_review_chat(
        actor=await principal_for(world.admin), organization_id=org_id, chat_id=GROUP
    )
    await services.content.submit(
        actor=await principal_for(world.writer), content_id=world.content.id
    )
    worker = DeliveryWorker(bot, services)
    assert (await worker.deliver_once()).sent == 1
    card = bot_api.last_message(GROUP)
    assert card.text is not None and card.text.startswith("📝 محتوای تازه برای بررسی")
    assert len(card.buttons) == 3
    assert [str(call.chat_id) for call in bot_api.calls_to("sendMessage")] == [str(GROUP)]

    # The bot was removed from the group: the card is given up, no person marked unreachable.
    await services.content.reject(
        actor=await principal_for(world.admin), content_id=world.content.id, reason="x"
    )
    await services.content.update(
        actor=await principal_for(world.writer), content_id=world.content.id, body="Again"
    )
    await services.content.submit(
        actor=await principal_for(world.writer), content_id=world.content.id
    )
    bot_api.fail_next("sendMessage", 403, "Forbidden: bot was kicked from the group chat")
    report = await worker.deliver_once()
    assert (report.sent, report.failed) == (1, 1)  # the first card's edit; the new card
    assert not await TelegramLink.filter(unreachable_since__not_isnull=True).exists()
    # No notice of the removal reached the bot, the 403 says enough: the group is unbound and
    # the card goes to each editor instead (the writer who submitted it excluded).
    assert (await Organization.get(id=org_id)).review_chat_id is None
    audit = await AuditLog.get(action="review_chat_set", changes__contains={"why": "bot_refused"})
    assert audit.changes["review_chat_id"] == [GROUP, None]
    assert (await worker.deliver_once()).sent == 2
    for chat in (ADMIN_TG, EDITOR_TG):
        resent = bot_api.last_message(chat)
        assert resent.buttons[0].callback_data == f"rv:a:{world.content.id}"
    # A second refusal of the same chat resends nothing twice.
    group_card = await OutboxMessage.filter(chat_id=GROUP, status=OutboxStatus.FAILED).last()
    assert group_card is not None
    assert await services.review.review_chat_refused(chat_id=GROUP, card_id=group_card.id) == 0


async def test_cards_waiting_for_a_refusing_group_go_to_each_editor_once(
    bot: Bot, bot_api: FakeBotApi, world: World, services: Services
) -> None:
    """Two cards queued for the group; the first is refused: neither reaches the group, each
    editor gets both, and a card decided meanwhile is not resent."""
    org_id = world.content.organization_id
    await services.review.bind_review_chat(
        actor=await principal_for(world.admin), organization_id=org_id, chat_id=GROUP
    )
    second = await make_content(
        await Project.get(id=world.content.project_id), world.writer, title="Autumn", body="Text"
    )
    third = await make_content(
        await Project.get(id=world.content.project_id), world.writer, title="Winter", body="Text"
    )
    await Content.filter(id__in=(second.id, third.id)).update(word_count=1)
    writer = await principal_for(world.writer)
    for content in (world.content, second, third):
        await services.content.submit(actor=writer, content_id=content.id)
    await services.content.approve(actor=await principal_for(world.admin), content_id=third.id)
    bot_api.fail_next("sendMessage", 403, "Forbidden: bot is not a member of the group chat")
    worker = DeliveryWorker(bot, services)
    await worker.deliver_once()
    await worker.deliver_once()
    group_texts = [m.text for m in bot_api.messages(GROUP, from_bot=True)]
    assert group_texts == []
    for chat in (ADMIN_TG, EDITOR_TG):
        approve_buttons = [
            b.callback_data
            for m in bot_api.messages(chat, from_bot=True)
            for b in m.buttons
            if (b.callback_data or "").startswith("rv:a:")
        ]
        assert sorted(approve_buttons) == sorted([f"rv:a:{world.content.id}", f"rv:a:{second.id}"])
