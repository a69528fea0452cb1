"""The notification outbox: rows written with the change, claimed once, retried, given up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest
from tortoise.transactions import in_transaction

from core.clock import FrozenClock
from core.container import Services
from core.services.outbox import OutboxService
from core.settings import Settings
from db.models import Content, OutboxMessage, OutboxStatus, Role, TelegramLink, User
from tests.support.auth import auth_headers
from tests.support.factories import (
    add_member,
    make_content,
    make_org,
    make_project,
    make_user,
    make_workspace,
    principal_for,
)


@dataclass
class World:
    admin: User
    editor: User
    unlinked_editor: User
    writer: User
    viewer: User
    content: Content
    project_name: str


async def link(user: User, telegram_id: int) -> TelegramLink:
    return await TelegramLink.create(user=user, telegram_user_id=telegram_id, chat_id=telegram_id)


@pytest.fixture
async def world(db: str) -> World:
    org = await make_org()
    admin = await add_member(org, Role.ADMIN)
    editor = await add_member(org, Role.EDITOR, await make_user(full_name="Eddie"))
    unlinked_editor = await add_member(org, Role.EDITOR)
    writer = await add_member(org, Role.WRITER, await make_user(full_name="Wanda"))
    viewer = await add_member(org, Role.VIEWER)
    for number, user in enumerate((admin, editor, writer, viewer), start=1):
        await link(user, 5000 + number)
    project = await make_project(await make_workspace(org), name="Blog")
    body = "\n\nline one\nline two\n\nline three\nline four\nline five"
    content = await make_content(project, writer, title="Spring sale", body=body)
    await Content.filter(id=content.id).update(word_count=10)
    return World(admin, editor, unlinked_editor, writer, viewer, content, project.name)


def tuned(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update=changes)


async def rows(**filters: object) -> list[OutboxMessage]:
    return await OutboxMessage.filter(**filters).order_by("id")


# --- writing: the services write rows in their own transaction ----------------------------------


@pytest.mark.sqlite
async def test_a_submit_writes_one_row_per_linked_reviewer(
    services: Services, world: World
) -> None:
    await services.content.submit(
        actor=await principal_for(world.writer), content_id=world.content.id
    )
    written = await rows()
    assert sorted(r.user_id for r in written) == sorted([world.admin.id, world.editor.id])
    assert {r.kind for r in written} == {"content_submitted"}
    assert {r.status for r in written} == {OutboxStatus.PENDING}
    assert written[0].payload == {
        "content_id": world.content.id,
        "title": "Spring sale",
        "project": "Blog",
        "author": "Wanda",
        "submitted_by": "Wanda",
        "excerpt": "line one\nline two\nline three\nline four",
    }


async def test_an_editor_submitting_is_not_told_of_their_own_submit(
    services: Services, world: World
) -> None:
    await services.content.submit(
        actor=await principal_for(world.editor), content_id=world.content.id
    )
    assert [r.user_id for r in await rows()] == [world.admin.id]


async def test_decisions_tell_the_author_with_the_reason(services: Services, world: World) -> None:
    await services.content.submit(
        actor=await principal_for(world.writer), content_id=world.content.id
    )
    await services.content.reject(
        actor=await principal_for(world.editor), content_id=world.content.id, reason="منبع؟"
    )
    (row,) = await rows(kind="content_decided")
    assert row.user_id == world.writer.id
    assert row.payload == {
        "content_id": world.content.id,
        "title": "Spring sale",
        "status": "rejected",
        "decided_by": "Eddie",
        "reason": "منبع؟",
    }


async def test_a_finished_generation_tells_who_started_it(services: Services, world: World) -> None:
    job = await services.generation.start(
        actor=await principal_for(world.writer), content_id=world.content.id
    )
    await services.generation.drain()
    (row,) = await rows(kind="generation_finished")
    assert (row.user_id, row.payload["job_id"], row.payload["ok"]) == (
        world.writer.id,
        job.id,
        True,
    )


async def test_the_rest_only_process_writes_rows_too(api, services: Services, world: World) -> None:
    """``contexor run --no-bot`` builds the same container: its submits leave rows behind for
    whichever process runs the bot."""
    headers = await auth_headers(services, world.writer)
    response = await api.post(f"/api/contents/{world.content.id}/submit", headers=headers)
    assert response.status == 200
    assert len(await rows(kind="content_submitted", status=OutboxStatus.PENDING)) == 2


@pytest.mark.sqlite
async def test_rows_roll_back_with_the_change(services: Services, world: World) -> None:
    with pytest.raises(RuntimeError):
        async with in_transaction() as conn:
            await services.outbox.enqueue(
                connection=conn, user_ids=[world.writer.id], kind="member_invited", payload={}
            )
            raise RuntimeError("the change failed")
    assert await rows() == []


async def test_unlinked_inactive_and_unreachable_people_get_no_rows(
    services: Services, world: World
) -> None:
    await services.outbox.mark_unreachable(user_id=world.admin.id)
    await User.filter(id=world.viewer.id).update(is_active=False)
    targets = [world.admin.id, world.unlinked_editor.id, world.viewer.id, world.writer.id]
    async with in_transaction() as conn:
        written = await services.outbox.enqueue(
            connection=conn, user_ids=[*targets, world.writer.id], kind="k", payload={}
        )
    assert written == 1
    assert [r.user_id for r in await rows()] == [world.writer.id]


# --- claiming -----------------------------------------------------------------------------------


async def enqueue(outbox: OutboxService, user_ids: list[int], kind: str = "k") -> None:
    async with in_transaction() as conn:
        await outbox.enqueue(connection=conn, user_ids=user_ids, kind=kind, payload={})


@pytest.mark.sqlite
async def test_concurrent_claims_never_share_a_row(
    settings: Settings, clock: FrozenClock, db: str
) -> None:
    users = [await make_user() for _ in range(12)]
    for number, user in enumerate(users):
        await link(user, 7000 + number)
    outbox = OutboxService(settings=tuned(settings, outbox_batch_size=5), clock=clock)
    await enqueue(outbox, [u.id for u in users])

    batches = await asyncio.gather(*(outbox.claim() for _ in range(4)))

    claimed = [d.message.id for batch in batches for d in batch]
    assert len(claimed) == len(set(claimed)) == 12
    tokens = {d.token for batch in batches for d in batch}
    assert len(tokens) == sum(1 for batch in batches if batch)
    assert await outbox.claim() == []


@pytest.mark.sqlite
async def test_a_dead_workers_claim_expires_and_is_taken_again(
    settings: Settings, clock: FrozenClock, world: World
) -> None:
    outbox = OutboxService(settings=tuned(settings, outbox_lease_seconds=60), clock=clock)
    await enqueue(outbox, [world.writer.id])
    (first,) = await outbox.claim()
    assert first.chat_id == 5003 and first.reachable
    clock.advance(seconds=59)
    assert await outbox.claim() == []  # still leased
    clock.advance(seconds=2)
    (again,) = await outbox.claim()
    assert again.message.id == first.message.id and again.message.attempts == 2
    # The first worker wakes up late: its lease is gone, it cannot settle the row.
    assert not await outbox.mark_sent(first, chat_id=1, message_id=1)
    assert await outbox.mark_sent(again, chat_id=5003, message_id=9)
    row = await OutboxMessage.get(id=first.message.id)
    assert (row.status, row.sent_message_id, row.lease_token) == (OutboxStatus.SENT, 9, None)
    assert await outbox.claim() == []


async def test_retries_back_off_then_give_up_with_the_reason(
    settings: Settings, clock: FrozenClock, world: World
) -> None:
    outbox = OutboxService(
        settings=tuned(settings, outbox_max_attempts=3, outbox_backoff_seconds=5),
        clock=clock,
    )
    await enqueue(outbox, [world.writer.id])
    for expected_wait in (5, 10):
        (delivery,) = await outbox.claim()
        assert await outbox.retry(delivery, error="NetworkError: 500")
        clock.advance(seconds=expected_wait - 1)
        assert await outbox.claim() == []
        clock.advance(seconds=1)
    (delivery,) = await outbox.claim()
    await outbox.retry(delivery, error="NetworkError: 502")
    row = await OutboxMessage.get(id=delivery.message.id)
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, 3)
    assert row.last_error == "gave up after 3 tries: NetworkError: 502"
    clock.advance(days=1)
    assert await outbox.claim() == []


async def test_a_retry_after_is_honoured_and_not_counted(
    settings: Settings, clock: FrozenClock, world: World
) -> None:
    outbox = OutboxService(settings=tuned(settings, outbox_max_attempts=1), clock=clock)
    await enqueue(outbox, [world.writer.id])
    (delivery,) = await outbox.claim()
    await outbox.retry(delivery, error="429", after_seconds=30, count_attempt=False)
    row = await OutboxMessage.get(id=delivery.message.id)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 0)
    assert row.next_attempt_at == clock.now() + timedelta(seconds=30)


async def test_reachability_follows_the_person(services: Services, world: World) -> None:
    outbox = services.outbox
    await outbox.mark_unreachable(telegram_user_id=5003)
    assert (
        await TelegramLink.get(user_id=world.writer.id)
    ).unreachable_since == services.clock.now()
    assert await outbox.mark_reachable(5003)
    assert not await outbox.mark_reachable(5003)  # nothing to clear the second time
    assert (await TelegramLink.get(user_id=world.writer.id)).unreachable_since is None
    with pytest.raises(ValueError):
        await outbox.mark_unreachable()


async def test_purge_removes_only_old_settled_rows(
    settings: Settings, clock: FrozenClock, world: World
) -> None:
    outbox = OutboxService(settings=tuned(settings, outbox_keep_days=7), clock=clock)
    await enqueue(outbox, [world.writer.id, world.editor.id, world.admin.id])
    first, second, _ = await outbox.claim()
    await outbox.mark_sent(first)
    await outbox.give_up(second, reason="400: chat not found")
    clock.advance(days=7, seconds=1)
    await enqueue(outbox, [world.writer.id])  # new, and sent: kept
    (fresh,) = [d for d in await outbox.claim() if d.message.created_at == clock.now()]
    await outbox.mark_sent(fresh)
    assert await outbox.purge() == 2
    left = await rows()
    assert sorted(r.status for r in left) == [OutboxStatus.SENDING, OutboxStatus.SENT]
