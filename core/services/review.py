"""Review from chat: the editors' queue, the card of one content, and the review group.

The decisions themselves are ``ContentService.approve`` / ``reject`` (one conditional update;
the loser of a race gets ``Conflict("already_decided")`` naming the winner). This service adds
what an adapter needs around them, with the same rules:

* :meth:`ReviewService.check_decidable` answers, before a reason is asked for, whether the actor
  could decide this content now (404 unseen, 403 below editor, 409 not in review / decided);
* :meth:`ReviewService.queue`: what waits for review in the organisations where the actor may
  decide, oldest first;
* :meth:`ReviewService.card`: what a review card shows (the same payload the notifier writes);
* :meth:`ReviewService.bind_review_chat`: an admin routes the organisation's review cards to a
  group chat (``Organization.review_chat_id``), or back to each editor with ``None``
  (:meth:`ReviewService.unbind_review_chat` for every organisation bound to one chat);
* when Telegram says the bot is gone from that group (a notice, or a 403 on a card), the
  group is unbound and its cards still waiting go to each editor
  (:meth:`ReviewService.forget_review_chat`, :meth:`ReviewService.review_chat_refused`).
"""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from core.errors import PermissionDenied
from core.security.principal import Principal
from core.services.audit import AuditService
from core.services.content import ContentService, decision_conflict, live_contents
from core.services.notifications import KIND_CONTENT_SUBMITTED, REVIEWER_ROLES, card_payload
from core.services.outbox import OutboxService
from core.services.permissions import Action, authorize, may, role_of
from db.models import (
    Content,
    ContentStatus,
    Membership,
    Organization,
    OutboxMessage,
    OutboxStatus,
    Role,
)

TARGET = "organization"
ACTION_REVIEW_CHAT = "review_chat_set"
_DECIDER_ROLES = tuple(role for role in Role if may(role, Action.DECIDE_CONTENT))
_ADMIN_ROLES = tuple(role for role in Role if may(role, Action.MANAGE_ORGANIZATION))


class ReviewService:
    def __init__(
        self, *, content: ContentService, audit: AuditService, outbox: OutboxService
    ) -> None:
        self._content = content
        self._audit = audit
        self._outbox = outbox

    async def check_decidable(self, *, actor: Principal, content_id: int) -> Content:
        """The content if the actor could approve or reject it now; else what stops them."""
        content = await self._content.get(actor=actor, content_id=content_id)
        if not may(role_of(actor, content.organization_id), Action.DECIDE_CONTENT):
            raise PermissionDenied(action=Action.DECIDE_CONTENT.value)
        if content.status != ContentStatus.REVIEW:
            raise await decision_conflict(content.id)
        return content

    async def queue(
        self, *, actor: Principal, offset: int = 0, limit: int = 8
    ) -> tuple[int, list[Content]]:
        """(count, oldest-first page) of content in review where the actor may decide."""
        organizations = _organizations_where(actor, _DECIDER_ROLES)
        if not organizations:
            return 0, []
        query = live_contents().filter(
            organization_id__in=organizations, status=ContentStatus.REVIEW
        )
        count = await query.count()
        # Waiting longest first: the time it (last) went into review, then creation order.
        return count, await query.order_by("submitted_at", "id").offset(offset).limit(limit)

    async def card(self, *, actor: Principal, content_id: int) -> tuple[Content, dict[str, Any]]:
        """The content and its card's payload, for someone who may decide it (any status)."""
        content = await self._content.get(actor=actor, content_id=content_id)
        if not may(role_of(actor, content.organization_id), Action.DECIDE_CONTENT):
            raise PermissionDenied(action=Action.DECIDE_CONTENT.value)
        return content, await card_payload(None, content, None)

    async def admin_organizations(self, *, actor: Principal) -> list[Organization]:
        """The active organisations the actor administers (where a review group may be bound)."""
        ids = _organizations_where(actor, _ADMIN_ROLES)
        return await Organization.filter(id__in=ids, is_active=True).order_by("name", "id")

    async def review_chat_choices(self, *, actor: Principal) -> list[Organization]:
        """The organisations whose review group the actor may set; refused when none."""
        organizations = await self.admin_organizations(actor=actor)
        if not organizations:
            raise PermissionDenied(action=Action.MANAGE_ORGANIZATION.value)
        return organizations

    async def bind_review_chat(
        self, *, actor: Principal, organization_id: int, chat_id: int | None
    ) -> Organization:
        """Send the organisation's review cards to ``chat_id`` (None: to each editor again)."""
        authorize(actor, organization_id, Action.MANAGE_ORGANIZATION)
        async with in_transaction() as conn:
            organization = await Organization.get(id=organization_id).using_db(conn)
            before = organization.review_chat_id
            organization.review_chat_id = chat_id
            await organization.save(update_fields=["review_chat_id", "updated_at"], using_db=conn)
            await self._audit.record(
                connection=conn,
                organization_id=organization_id,
                actor_id=actor.user_id,
                action=ACTION_REVIEW_CHAT,
                target_type=TARGET,
                target_id=organization_id,
                changes={"review_chat_id": [before, chat_id]},
            )
        return organization

    async def unbind_review_chat(self, *, actor: Principal, chat_id: int) -> list[Organization]:
        """Cards of the actor's organisations bound to ``chat_id`` go to each editor again;
        returns those organisations (none: the chat was no review group of theirs)."""
        choices = await self.review_chat_choices(actor=actor)
        bound = [organization for organization in choices if organization.review_chat_id == chat_id]
        return [
            await self.bind_review_chat(actor=actor, organization_id=organization.id, chat_id=None)
            for organization in bound
        ]

    async def forget_review_chat(self, *, chat_id: int) -> int:
        """The bot is no longer in ``chat_id`` (Telegram said so): every organisation that sent
        its cards there sends them to each editor again. Returns how many were bound."""
        async with in_transaction() as conn:
            return await self._unbind(conn, chat_id, why="bot_removed")

    async def review_chat_refused(self, *, chat_id: int, card_id: int) -> int:
        """Telegram refused a card (outbox row ``card_id``) in ``chat_id`` with 403: the bot was
        removed while no notice reached it, or may not post there. The chat is unbound as by
        ``forget_review_chat``, and that card and the chat's cards still waiting go to each
        editor instead, once per card however many refusals come. Returns the cards resent."""
        async with in_transaction() as conn:
            await self._unbind(conn, chat_id, why="bot_refused")
            cards = await (
                OutboxMessage.filter(
                    Q(id=card_id) | Q(status=OutboxStatus.PENDING),
                    chat_id=chat_id,
                    user_id=None,
                    kind=KIND_CONTENT_SUBMITTED,
                )
                .select_for_update()
                .using_db(conn)
                .order_by("id")
            )
            await self._outbox.cancel_pending(
                connection=conn, ids=[card.id for card in cards], reason="review chat refused"
            )
            resent = 0
            for card in cards:
                resent += await self._resend_to_editors(conn, card)
        return resent

    async def _resend_to_editors(self, conn: BaseDBAsyncClient, card: OutboxMessage) -> int:
        """The group card's payload to each editor, unless the content left review or its
        editors' own cards exist already (an earlier refusal of the same chat)."""
        content = await Content.get_or_none(id=card.content_id).using_db(conn)
        if content is None or content.status != ContentStatus.REVIEW:
            return 0
        already = OutboxMessage.filter(
            content_id=content.id,
            kind=KIND_CONTENT_SUBMITTED,
            user_id__not_isnull=True,
            id__gt=card.id,
        )
        if await already.using_db(conn).exists():
            return 0
        editors = await (
            Membership.filter(organization_id=content.organization_id, role__in=REVIEWER_ROLES)
            .exclude(user_id=content.created_by_id)
            .using_db(conn)
            .values_list("user_id", flat=True)
        )
        await self._outbox.enqueue(
            connection=conn,
            user_ids=editors,
            kind=KIND_CONTENT_SUBMITTED,
            payload=card.payload,
            content_id=content.id,
        )
        return 1

    async def _unbind(self, conn: BaseDBAsyncClient, chat_id: int, *, why: str) -> int:
        """Organisations whose review chat is ``chat_id`` send cards to each editor again."""
        bound = await (
            Organization.filter(review_chat_id=chat_id)
            .select_for_update()
            .using_db(conn)
            .values_list("id", flat=True)
        )
        if not bound:
            return 0
        await Organization.filter(id__in=list(bound)).using_db(conn).update(review_chat_id=None)
        for organization_id in bound:
            await self._audit.record(
                connection=conn,
                organization_id=organization_id,
                actor_id=None,  # Telegram's answer, not a person's act
                action=ACTION_REVIEW_CHAT,
                target_type=TARGET,
                target_id=organization_id,
                changes={"review_chat_id": [chat_id, None], "why": why},
            )
        return len(bound)


def _organizations_where(actor: Principal, roles: tuple[Role, ...]) -> list[int]:
    """The actor's active organisations where their role is one of ``roles``."""
    return [organization for organization, role in actor.roles.items() if role in roles]
