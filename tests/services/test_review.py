"""Review around the decision: the queue, the decidable check, the review group, and the rows a
decision writes to close every copy of the review card (core/services/review.py,
core/services/notifications.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from core.clock import FrozenClock
from core.container import Services
from core.errors import Conflict, NotFound, PermissionDenied
from db.models import (
    Content,
    ContentStatus,
    Membership,
    Organization,
    OutboxMessage,
    OutboxStatus,
    Role,
    TelegramLink,
    User,
)
from tests.support.factories import (
    add_member,
    make_content,
    make_org,
    make_project,
    make_user,
    make_workspace,
    principal_for,
)

pytestmark = pytest.mark.sqlite
GROUP = -100555


@dataclass
class World:
    org: Organization
    admin: User
    editor: User
    writer: User
    viewer: User
    content: Content


@pytest.fixture
async def world(db: str) -> World:
    org = await make_org()
    admin = await add_member(org, Role.ADMIN, await make_user(full_name="Ada"))
    editor = await add_member(org, Role.EDITOR, await make_user(full_name="Eddie"))
    writer = await add_member(org, Role.WRITER, await make_user(full_name="Wanda"))
    viewer = await add_member(org, Role.VIEWER)
    for number, user in enumerate((admin, editor, writer, viewer), start=1):
        await TelegramLink.create(user=user, telegram_user_id=7000 + number, chat_id=7000 + number)
    project = await make_project(await make_workspace(org), name="Blog")
    content = await make_content(project, writer, title="Spring", body="one\ntwo\nthree")
    await Content.filter(id=content.id).update(word_count=3)
    return World(org, admin, editor, writer, viewer, content)


async def cards(content_id: int) -> list[OutboxMessage]:
    return await OutboxMessage.filter(content_id=content_id, kind="content_submitted").order_by(
        "id"
    )


async def edits(content_id: int) -> list[OutboxMessage]:
    return await OutboxMessage.filter(content_id=content_id, kind="review_card_decided").order_by(
        "id"
    )


async def mark_sent(rows: list[OutboxMessage]) -> None:
    for number, row in enumerate(rows, start=1):
        await OutboxMessage.filter(id=row.id).update(
            status=OutboxStatus.SENT, attempts=1, sent_chat_id=row.user_id, sent_message_id=number
        )


# --- the cards and their closing rows -------------------------------------------------------------


async def test_a_submit_writes_one_card_per_linked_reviewer(
    services: Services, world: World
) -> None:
    await services.content.submit(
        actor=await principal_for(world.writer), content_id=world.content.id
    )
    written = await cards(world.content.id)
    assert sorted(row.user_id for row in written) == sorted([world.admin.id, world.editor.id])
    assert {row.chat_id for row in written} == {None}
    assert written[0].payload["excerpt"] == "one\ntwo\nthree"


async def test_a_decision_edits_sent_cards_and_gives_up_unsent_ones(
    services: Services, world: World
) -> None:
    await services.content.submit(
        actor=await principal_for(world.writer), content_id=world.content.id
    )
    admin_card, editor_card = sorted(await cards(world.content.id), key=lambda r: r.user_id)
    await mark_sent([admin_card])  # the editor's card is still waiting for the worker

    decided = await services.content.approve(
        actor=await principal_for(world.editor), content_id=world.content.id
    )

    assert (await OutboxMessage.get(id=editor_card.id)).status == OutboxStatus.FAILED
    [edit] = await edits(world.content.id)
    assert edit.user_id == admin_card.user_id and edit.status == OutboxStatus.PENDING
    assert edit.payload["original_id"] == admin_card.id
    assert edit.payload["status"] == "approved" and edit.payload["decided_by"] == "Eddie"
    assert edit.payload["decided_at"] == decided.decided_at.isoformat()  # type: ignore[union-attr]
    assert edit.payload["title"] == "Spring"


async def test_a_card_being_sent_is_followed_by_an_edit(services: Services, world: World) -> None:
    await services.content.submit(
        actor=await principal_for(world.writer), content_id=world.content.id
    )
    written = await cards(world.content.id)
    await OutboxMessage.filter(id__in=[r.id for r in written]).update(
        status=OutboxStatus.SENDING, attempts=1
    )
    await services.content.reject(
        actor=await principal_for(world.admin), content_id=world.content.id, reason="No"
    )
    assert sorted(e.payload["original_id"] for e in await edits(world.content.id)) == sorted(
        r.id for r in written
    )


async def test_each_decision_closes_only_its_own_round(services: Services, world: World) -> None:
    await services.content.submit(
        actor=await principal_for(world.writer), content_id=world.content.id
    )
    first_round = await cards(world.content.id)
    await mark_sent(first_round)
    await services.content.reject(
        actor=await principal_for(world.editor), content_id=world.content.id, reason="Redo"
    )
    await services.content.update(
        actor=await principal_for(world.writer), content_id=world.content.id, body="new"
    )
    await services.content.submit(
        actor=await principal_for(world.writer), content_id=world.content.id
    )
    second_round = [c for c in await cards(world.content.id) if c not in first_round]
    await mark_sent(second_round)
    await services.content.approve(
        actor=await principal_for(world.admin), content_id=world.content.id
    )

    closing = await edits(world.content.id)
    originals = [e.payload["original_id"] for e in closing]
    assert sorted(originals) == sorted(c.id for c in first_round + second_round)
    by_original = {e.payload["original_id"]: e.payload["status"] for e in closing}
    assert {by_original[c.id] for c in first_round} == {"rejected"}
    assert {by_original[c.id] for c in second_round} == {"approved"}


async def test_a_bound_group_gets_the_one_card(services: Services, world: World) -> None:
    await services.review.bind_review_chat(
        actor=await principal_for(world.admin), organization_id=world.org.id, chat_id=GROUP
    )
    await services.content.submit(
        actor=await principal_for(world.writer), content_id=world.content.id
    )
    [card] = await cards(world.content.id)
    assert card.user_id is None and card.chat_id == GROUP and card.language == "fa"
    await OutboxMessage.filter(id=card.id).update(
        status=OutboxStatus.SENT, sent_chat_id=GROUP, sent_message_id=9
    )
    await services.content.approve(
        actor=await principal_for(world.editor), content_id=world.content.id
    )
    [edit] = await edits(world.content.id)
    assert edit.user_id is None and edit.chat_id == GROUP and edit.payload["original_id"] == card.id


async def test_purge_keeps_the_cards_of_content_still_in_review(
    services: Services, world: World, clock: FrozenClock
) -> None:
    await services.content.submit(
        actor=await principal_for(world.writer), content_id=world.content.id
    )
    await mark_sent(await cards(world.content.id))
    clock.advance(days=30)
    assert await services.outbox.purge(older_than=timedelta(0)) == 0
    assert len(await cards(world.content.id)) == 2
    await services.content.approve(
        actor=await principal_for(world.editor), content_id=world.content.id
    )
    clock.advance(days=30)
    # Decided: the cards go (their closing edits are still pending, so they stay).
    assert await services.outbox.purge(older_than=timedelta(0)) == 2
    assert await cards(world.content.id) == []
    assert len(await edits(world.content.id)) == 2


# --- the review service ---------------------------------------------------------------------------


async def test_check_decidable_refuses_in_the_service_order(
    services: Services, world: World
) -> None:
    content_id = world.content.id
    with pytest.raises(NotFound):  # a writer's draft is not the viewer's to see
        await services.review.check_decidable(
            actor=await principal_for(world.viewer), content_id=content_id
        )
    with pytest.raises(PermissionDenied):
        await services.review.check_decidable(
            actor=await principal_for(world.writer), content_id=content_id
        )
    with pytest.raises(Conflict) as not_in_review:
        await services.review.check_decidable(
            actor=await principal_for(world.editor), content_id=content_id
        )
    assert not_in_review.value.code == "content_not_in_review"
    await services.content.submit(actor=await principal_for(world.writer), content_id=content_id)
    assert (
        await services.review.check_decidable(
            actor=await principal_for(world.editor), content_id=content_id
        )
    ).id
    await services.content.approve(actor=await principal_for(world.admin), content_id=content_id)
    with pytest.raises(Conflict) as decided:
        await services.review.check_decidable(
            actor=await principal_for(world.editor), content_id=content_id
        )
    assert decided.value.code == "already_decided"
    assert decided.value.params == {"decided_by": "Ada", "current_status": "approved"}
    await Membership.filter(user_id=world.editor.id).delete()
    with pytest.raises(NotFound):
        await services.review.check_decidable(
            actor=await principal_for(world.editor), content_id=content_id
        )


async def test_the_queue_is_oldest_first_and_only_where_the_actor_decides(
    services: Services, world: World
) -> None:
    project = await make_project(await make_workspace(world.org))
    later = await make_content(project, world.writer, title="Later", body="x")
    other_org = await make_org()
    elsewhere = await make_content(
        await make_project(await make_workspace(other_org)),
        await add_member(other_org, Role.WRITER),
        title="Elsewhere",
    )
    now = services.clock.now()
    for content, waited in ((world.content, 1), (later, 2), (elsewhere, 3)):
        await Content.filter(id=content.id).update(
            status=ContentStatus.REVIEW, submitted_at=now - timedelta(hours=waited)
        )
    count, page = await services.review.queue(actor=await principal_for(world.editor))
    assert count == 2 and [c.id for c in page] == [later.id, world.content.id]
    assert [
        c.id
        for c in (await services.review.queue(actor=await principal_for(world.editor), offset=1))[1]
    ] == [world.content.id]
    assert await services.review.queue(actor=await principal_for(world.writer)) == (0, [])


async def test_only_an_admin_binds_and_unbinds_the_review_group(
    services: Services, world: World
) -> None:
    for user in (world.editor, world.writer, world.viewer):
        actor = await principal_for(user)
        with pytest.raises(PermissionDenied):
            await services.review.bind_review_chat(
                actor=actor, organization_id=world.org.id, chat_id=GROUP
            )
        with pytest.raises(PermissionDenied):
            await services.review.review_chat_choices(actor=actor)
    outsider = await make_user()
    with pytest.raises(NotFound):
        await services.review.bind_review_chat(
            actor=await principal_for(outsider), organization_id=world.org.id, chat_id=GROUP
        )
    assert (await Organization.get(id=world.org.id)).review_chat_id is None

    await services.review.bind_review_chat(
        actor=await principal_for(world.admin), organization_id=world.org.id, chat_id=GROUP
    )
    assert (await Organization.get(id=world.org.id)).review_chat_id == GROUP
    assert (
        await services.review.unbind_review_chat(
            actor=await principal_for(world.admin), chat_id=GROUP + 1
        )
        == []
    )
    [unbound] = await services.review.unbind_review_chat(
        actor=await principal_for(world.admin), chat_id=GROUP
    )
    assert unbound.id == world.org.id
    assert (await Organization.get(id=world.org.id)).review_chat_id is None
