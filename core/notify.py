"""What ``core`` tells people, behind an interface (docs/architecture.md §4).

Services call the notifier *inside* the transaction of the change, passing it as
``connection``: the notification is written with the change (as outbox rows, see
``core/services/notifications.py``) and commits or rolls back with it. Delivery happens later,
in the bot's delivery worker, so a slow or failing Telegram never touches the service call.
``InMemoryNotifier`` records events for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tortoise.backends.base.client import BaseDBAsyncClient

from db.models import Content, Organization, Role, User


class Notifier(Protocol):
    async def content_submitted(
        self, *, connection: BaseDBAsyncClient, content: Content, by: User
    ) -> None:
        """A writer sent ``content`` to review; editors should hear of it."""

    async def content_decided(
        self, *, connection: BaseDBAsyncClient, content: Content, by: User
    ) -> None:
        """An editor approved or rejected ``content``; its author should hear of it."""

    async def member_invited(
        self, *, connection: BaseDBAsyncClient, organization: Organization, user: User, role: Role
    ) -> None:
        """``user`` was given ``role`` in ``organization``."""

    async def generation_finished(
        self, *, connection: BaseDBAsyncClient, content: Content, job_id: int, ok: bool
    ) -> None:
        """A generation job ended; its requester should hear of it."""

    async def membership_changed(
        self, *, connection: BaseDBAsyncClient, organization_id: int, user_id: int
    ) -> None:
        """``user_id`` joined, left or changed role in the organisation: what their chat
        offers (the bot's / menu) should follow, whichever process made the change."""


class NullNotifier:
    """Tells nobody."""

    async def content_submitted(self, **_: object) -> None:
        return None

    async def content_decided(self, **_: object) -> None:
        return None

    async def member_invited(self, **_: object) -> None:
        return None

    async def generation_finished(self, **_: object) -> None:
        return None

    async def membership_changed(self, **_: object) -> None:
        return None


@dataclass
class InMemoryNotifier:
    """Records every event as ``(name, details)`` for tests to assert on."""

    events: list[tuple[str, dict]] = field(default_factory=list)

    async def content_submitted(
        self, *, connection: BaseDBAsyncClient, content: Content, by: User
    ) -> None:
        self.events.append(("content_submitted", {"content": content.id, "by": by.id}))

    async def content_decided(
        self, *, connection: BaseDBAsyncClient, content: Content, by: User
    ) -> None:
        details = {"content": content.id, "by": by.id, "status": content.status.value}
        self.events.append(("content_decided", details))

    async def member_invited(
        self, *, connection: BaseDBAsyncClient, organization: Organization, user: User, role: Role
    ) -> None:
        details = {"organization": organization.id, "user": user.id, "role": role.value}
        self.events.append(("member_invited", details))

    async def generation_finished(
        self, *, connection: BaseDBAsyncClient, content: Content, job_id: int, ok: bool
    ) -> None:
        self.events.append(
            ("generation_finished", {"content": content.id, "job": job_id, "ok": ok})
        )

    async def membership_changed(
        self, *, connection: BaseDBAsyncClient, organization_id: int, user_id: int
    ) -> None:
        details = {"organization": organization_id, "user": user_id}
        self.events.append(("membership_changed", details))
