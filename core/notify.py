"""What ``core`` tells people, behind an interface the bot implements (docs/architecture.md §2).

Services call the notifier after their transaction commits; a failure to notify is logged by the
implementation and never undoes the change. ``InMemoryNotifier`` records events for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from db.models import Content, Organization, Role, User


class Notifier(Protocol):
    async def content_submitted(self, *, content: Content, by: User) -> None:
        """A writer sent ``content`` to review; editors should hear of it."""

    async def content_decided(self, *, content: Content, by: User) -> None:
        """An editor approved or rejected ``content``; its author should hear of it."""

    async def member_invited(self, *, organization: Organization, user: User, role: Role) -> None:
        """``user`` was given ``role`` in ``organization``."""

    async def generation_finished(self, *, content: Content, job_id: int, ok: bool) -> None:
        """A generation job ended; its requester should hear of it."""


class NullNotifier:
    """Tells nobody (the API-only process, and the default until the bot plugs in)."""

    async def content_submitted(self, *, content: Content, by: User) -> None:
        return None

    async def content_decided(self, *, content: Content, by: User) -> None:
        return None

    async def member_invited(self, *, organization: Organization, user: User, role: Role) -> None:
        return None

    async def generation_finished(self, *, content: Content, job_id: int, ok: bool) -> None:
        return None


@dataclass
class InMemoryNotifier:
    """Records every event as ``(name, details)`` for tests to assert on."""

    events: list[tuple[str, dict]] = field(default_factory=list)

    async def content_submitted(self, *, content: Content, by: User) -> None:
        self.events.append(("content_submitted", {"content": content.id, "by": by.id}))

    async def content_decided(self, *, content: Content, by: User) -> None:
        details = {"content": content.id, "by": by.id, "status": content.status.value}
        self.events.append(("content_decided", details))

    async def member_invited(self, *, organization: Organization, user: User, role: Role) -> None:
        details = {"organization": organization.id, "user": user.id, "role": role.value}
        self.events.append(("member_invited", details))

    async def generation_finished(self, *, content: Content, job_id: int, ok: bool) -> None:
        self.events.append(
            ("generation_finished", {"content": content.id, "job": job_id, "ok": ok})
        )
