"""The product's notifier: every event becomes outbox rows in the change's own transaction.

Who hears what (only people with a reachable linked Telegram account get a row, see
``core/services/outbox.py``; the person who acted never notifies themselves):

* ``content_submitted`` (the review card): every editor and admin of the content's
  organisation, or, when the organisation bound a review group (``review_chat_id``), that group
  instead;
* ``content_decided``: the content's author; and every copy of the review card of this round
  gets a ``review_card_decided`` row that edits it to show who decided and when (without
  buttons). Copies not claimed by the worker yet are given up instead: nobody needs a card for
  a decided content. Edits go through the outbox like messages, written in the decision's
  transaction, so a crash never leaves a stale card with live buttons;
* ``member_invited``: the invited person;
* ``generation_finished``: whoever started the job;
* ``usage_report``: each organisation's admins, when a billing period ends
  (``core/services/period_reports.py``);
* ``limit_warning``: the organisation's admins, and the person for a user limit, once per scope,
  period and metric when 80% of a limit is used (``core/services/limit_warnings.py``);
* ``review_reminder``: each organisation's editors and admins, a daily digest of content waiting
  in review for over a day (``core/services/review_reminders.py``);
* ``menu_changed``: a member whose role changed, who joined or who was removed (by the bot or
  the REST API). Not a message: the bot sets that person's / menu again (``bot/command_menus.py``).

The payload is a snapshot of what the message shows (titles, names, the reason), so a message
delivered after a later rename still says what happened; the bot renders it in the
recipient's language (``bot/outbox_render.py``). Kinds and payload keys are the contract
between this module and the renderer.
"""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from core.presentation import display_name
from core.services.outbox import REVIEW_CARD_KIND, OutboxService
from db.models import (
    Content,
    GenerationJob,
    Membership,
    Organization,
    OutboxMessage,
    OutboxStatus,
    Project,
    Role,
    User,
)

KIND_CONTENT_SUBMITTED = REVIEW_CARD_KIND
KIND_CONTENT_DECIDED = "content_decided"
KIND_MEMBER_INVITED = "member_invited"
KIND_GENERATION_FINISHED = "generation_finished"
KIND_USAGE_REPORT = "usage_report"
KIND_LIMIT_WARNING = "limit_warning"
KIND_REVIEW_REMINDER = "review_reminder"
KIND_MENU_CHANGED = "menu_changed"
KIND_REVIEW_CARD_DECIDED = "review_card_decided"
KINDS = (
    KIND_CONTENT_SUBMITTED,
    KIND_CONTENT_DECIDED,
    KIND_MEMBER_INVITED,
    KIND_GENERATION_FINISHED,
    KIND_USAGE_REPORT,
    KIND_LIMIT_WARNING,
    KIND_REVIEW_REMINDER,
    KIND_MENU_CHANGED,
    KIND_REVIEW_CARD_DECIDED,
)
# Kinds whose rows edit the message of another row (``payload["original_id"]``).
EDIT_KINDS = frozenset({KIND_REVIEW_CARD_DECIDED})
EXCERPT_LINES = 4
EXCERPT_CHARS = 400
REVIEWER_ROLES = (Role.ADMIN, Role.EDITOR)


class OutboxNotifier:
    """``core.notify.Notifier`` that writes outbox rows on the caller's connection."""

    def __init__(self, outbox: OutboxService) -> None:
        self._outbox = outbox

    async def content_submitted(
        self, *, connection: BaseDBAsyncClient, content: Content, by: User
    ) -> None:
        organization = await Organization.get(id=content.organization_id).using_db(connection)
        payload = await card_payload(connection, content, by)
        if organization.review_chat_id is not None:
            await self._outbox.enqueue_chat(
                connection=connection,
                chat_id=organization.review_chat_id,
                language=str(getattr(organization.language, "value", organization.language)),
                kind=KIND_CONTENT_SUBMITTED,
                payload=payload,
                content_id=content.id,
            )
            return
        reviewers = await (
            Membership.filter(organization_id=content.organization_id, role__in=REVIEWER_ROLES)
            .exclude(user_id=by.id)
            .using_db(connection)
            .values_list("user_id", flat=True)
        )
        await self._outbox.enqueue(
            connection=connection,
            user_ids=reviewers,
            kind=KIND_CONTENT_SUBMITTED,
            payload=payload,
            content_id=content.id,
        )

    async def content_decided(
        self, *, connection: BaseDBAsyncClient, content: Content, by: User
    ) -> None:
        await self._close_review_cards(connection, content, by)
        if content.created_by_id is None or content.created_by_id == by.id:
            return
        payload = {
            **_content_ref(content),
            "status": content.status.value,
            "decided_by": display_name(by),
            "reason": content.rejection_reason,
        }
        await self._outbox.enqueue(
            connection=connection,
            user_ids=[content.created_by_id],
            kind=KIND_CONTENT_DECIDED,
            payload=payload,
        )

    async def member_invited(
        self, *, connection: BaseDBAsyncClient, organization: Organization, user: User, role: Role
    ) -> None:
        payload = {
            "organization_id": organization.id,
            "organization": organization.name,
            "role": Role(role).value,
        }
        await self._outbox.enqueue(
            connection=connection, user_ids=[user.id], kind=KIND_MEMBER_INVITED, payload=payload
        )

    async def generation_finished(
        self, *, connection: BaseDBAsyncClient, content: Content, job_id: int, ok: bool
    ) -> None:
        job = await GenerationJob.get_or_none(id=job_id).using_db(connection)
        if job is None or job.user_id is None:
            return
        payload = {**_content_ref(content), "job_id": job_id, "ok": ok, "error": job.error}
        await self._outbox.enqueue(
            connection=connection,
            user_ids=[job.user_id],
            kind=KIND_GENERATION_FINISHED,
            payload=payload,
        )

    async def membership_changed(
        self, *, connection: BaseDBAsyncClient, organization_id: int, user_id: int
    ) -> None:
        await self._outbox.enqueue(
            connection=connection,
            user_ids=[user_id],
            kind=KIND_MENU_CHANGED,
            payload={"organization_id": organization_id},
        )

    async def _close_review_cards(
        self, connection: BaseDBAsyncClient, content: Content, by: User
    ) -> None:
        """Edit (or give up, when still unsent) every card of this review round."""
        cards = await _cards_of_this_round(connection, content.id)
        if not cards:
            return
        cancelled = set(
            await self._outbox.cancel_pending(
                connection=connection, ids=[card.id for card in cards], reason="content decided"
            )
        )
        decision = {
            "status": content.status.value,
            "decided_by": display_name(by),
            "decided_at": (content.decided_at.isoformat() if content.decided_at else None),
        }
        await self._outbox.follow_up(
            connection=connection,
            originals=[card for card in cards if card.id not in cancelled],
            kind=KIND_REVIEW_CARD_DECIDED,
            payload=decision,
        )


async def card_payload(connection: BaseDBAsyncClient | None, content: Content, by: User | None):
    """What a review card shows: title, project, author, who sent it, the first lines."""
    project = await Project.get(id=content.project_id).using_db(connection)
    author = await _user(connection, content.created_by_id)
    return {
        **_content_ref(content),
        "project": project.name,
        "author": display_name(author),
        "submitted_by": display_name(by if by is not None else author),
        "excerpt": excerpt(content.body),
    }


async def _cards_of_this_round(
    connection: BaseDBAsyncClient, content_id: int
) -> list[OutboxMessage]:
    """The card rows written since the content's last decision.

    Submit and decide both change the content row under its lock, so rows of one round are
    written after the previous round's follow-ups: "newer than the last follow-up" is this
    round. Cards given up (never delivered) have nothing to edit.
    """
    last_follow_up = await (
        OutboxMessage.filter(content_id=content_id, kind=KIND_REVIEW_CARD_DECIDED)
        .using_db(connection)
        .order_by("-id")
        .first()
        .values_list("id", flat=True)
    )
    query = OutboxMessage.filter(content_id=content_id, kind=KIND_CONTENT_SUBMITTED).exclude(
        status=OutboxStatus.FAILED
    )
    if last_follow_up is not None:
        query = query.filter(id__gt=last_follow_up)
    return await query.using_db(connection).order_by("id")


def excerpt(body: str) -> str:
    """The first non-empty lines of ``body``, at most ``EXCERPT_CHARS`` characters."""
    lines = [line.strip() for line in body.splitlines() if line.strip()][:EXCERPT_LINES]
    text = "\n".join(lines)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


def _content_ref(content: Content) -> dict[str, Any]:
    return {"content_id": content.id, "title": content.title}


async def _user(connection: BaseDBAsyncClient, user_id: int | None) -> User | None:
    if user_id is None:
        return None
    return await User.get_or_none(id=user_id).using_db(connection)
