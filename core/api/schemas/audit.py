"""Query and answer of ``/api/audit-logs``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from core.api.pagination import PageQuery
from core.api.schemas.common import Id
from db.models import AuditLog


class AuditListQuery(PageQuery):
    content: Id | None = Field(default=None, description="Entries of one content item")
    organization: Id | None = None


class AuditLogOut(BaseModel):
    id: int
    organization: int
    actor: int | None
    action: str
    target_type: str
    target_id: int | None
    content: int | None = Field(description="The content's id; it may have been deleted since")
    old_status: str | None
    new_status: str | None
    changes: dict[str, Any]
    note: str | None
    created_at: datetime

    @classmethod
    def from_domain(cls, entry: AuditLog) -> AuditLogOut:
        """The wire shape of an audit entry."""
        return cls(
            id=entry.id,
            organization=entry.organization_id,
            actor=entry.actor_id,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            content=entry.content_ref,
            old_status=entry.old_status,
            new_status=entry.new_status,
            changes=entry.changes,
            note=entry.note,
            created_at=entry.created_at,
        )
