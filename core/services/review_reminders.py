"""A daily digest, per organisation, of content waiting in review for over a day.

Every editor and admin of the organisation gets one ``review_reminder`` row listing the oldest
waiting content first, or, when the organisation bound a review group, the group gets the one
row (where the cards go, the reminder goes). Payload: ``organization``, ``count`` (all
waiting), ``items`` (at most ``MAX_ITEMS`` of ``{content_id, title, project, waiting_days}``)
and ``more`` (left out).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from core.clock import Clock
from core.services.content import live_contents
from core.services.notifications import KIND_REVIEW_REMINDER, REVIEWER_ROLES
from core.services.outbox import OutboxService
from db.models import Content, ContentStatus, Membership, Organization

WAITING_LONGER_THAN = timedelta(hours=24)
MAX_ITEMS = 20


class ReviewReminderService:
    def __init__(self, *, outbox: OutboxService, clock: Clock) -> None:
        self._outbox = outbox
        self._clock = clock

    async def remind(self, waiting_longer_than: timedelta = WAITING_LONGER_THAN) -> dict[str, int]:
        """One digest per organisation with waiting content; counts of organisations and rows."""
        now = self._clock.now()
        cutoff = (now - waiting_longer_than).astimezone(UTC)  # SQLite compares text: one zone
        waiting = await (
            live_contents()
            .filter(status=ContentStatus.REVIEW, submitted_at__lt=cutoff)
            .order_by("organization_id", "submitted_at", "id")
            .prefetch_related("project")
        )
        by_organization: dict[int, list[Content]] = defaultdict(list)
        for content in waiting:
            by_organization[content.organization_id].append(content)
        messages = 0
        for organization_id, contents in by_organization.items():
            messages += await self._send(organization_id, contents, now)
        return {"organizations": len(by_organization), "messages": messages}

    async def _send(self, organization_id: int, contents: list[Content], now: datetime) -> int:
        organization = await Organization.get(id=organization_id)
        payload = digest(organization, contents, now)
        if organization.review_chat_id is not None:
            async with in_transaction() as conn:
                await self._outbox.enqueue_chat(
                    connection=conn,
                    chat_id=organization.review_chat_id,
                    language=str(getattr(organization.language, "value", organization.language)),
                    kind=KIND_REVIEW_REMINDER,
                    payload=payload,
                )
            return 1
        reviewers = await Membership.filter(
            organization_id=organization_id, role__in=REVIEWER_ROLES
        ).values_list("user_id", flat=True)
        async with in_transaction() as conn:
            return await self._outbox.enqueue(
                connection=conn, user_ids=reviewers, kind=KIND_REVIEW_REMINDER, payload=payload
            )


def digest(organization: Organization, contents: list[Content], now: datetime) -> dict[str, Any]:
    return {
        "organization_id": organization.id,
        "organization": organization.name,
        "count": len(contents),
        "items": [
            {
                "content_id": content.id,
                "title": content.title,
                "project": content.project.name,
                "waiting_days": (now - content.submitted_at).days,
            }
            for content in contents[:MAX_ITEMS]
        ],
        "more": max(len(contents) - MAX_ITEMS, 0),
    }
