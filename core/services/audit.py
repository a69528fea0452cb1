"""The audit trail: who did what to which content, written inside the change's own transaction.

Entries name content by plain id (``content_ref``), so they outlive the content they describe
(the system Contexor replaces cascaded its trail away with the content). Reading the trail is
for editors and admins of the organisation (docs/architecture.md §3), never across tenants.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from core.clock import Clock
from core.errors import PermissionDenied
from core.security.principal import Principal
from core.services.common import Listing, fetch_listing
from core.services.permissions import Action, authorize, may
from db.models import AuditLog


class AuditAction(StrEnum):
    """What an entry records; the values are stored, so never rename one."""

    CREATED = "created"
    UPDATED = "updated"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    DELETED = "deleted"
    GENERATION_STARTED = "generation_started"
    GENERATED = "generated"
    GENERATION_FAILED = "generation_failed"


class AuditService:
    """Writes entries inside callers' transactions and lists them for editors and admins."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock

    async def record(
        self,
        *,
        connection: BaseDBAsyncClient,
        organization_id: int,
        actor_id: int | None,
        action: str,
        target_type: str,
        target_id: int | None = None,
        content_ref: int | None = None,
        old_status: str | None = None,
        new_status: str | None = None,
        changes: dict[str, Any] | None = None,
        note: str | None = None,
    ) -> AuditLog:
        """Add one entry on ``connection``, the caller's transaction, so both commit together."""
        return await AuditLog.create(
            using_db=connection,
            organization_id=organization_id,
            actor_id=actor_id,
            action=str(action),
            target_type=target_type,
            target_id=target_id,
            content_ref=content_ref,
            old_status=None if old_status is None else str(old_status),
            new_status=None if new_status is None else str(new_status),
            changes=changes or {},
            note=note,
            created_at=self._clock.now(),
        )

    async def list_entries(
        self,
        *,
        actor: Principal,
        content_id: int | None = None,
        organization_id: int | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> Listing[AuditLog]:
        """One newest-first page of the entries of organisations where the actor is editor+."""
        if organization_id is not None:
            authorize(actor, organization_id, Action.READ_AUDIT)
            allowed = [organization_id]
        else:
            allowed = [
                org for org, role in sorted(actor.roles.items()) if may(role, Action.READ_AUDIT)
            ]
            if not allowed:
                # Nothing here reveals a resource: the caller simply reads no audit trail anywhere.
                raise PermissionDenied(action=Action.READ_AUDIT.value)
        query = AuditLog.filter(Q(organization_id__in=allowed))
        if content_id is not None:
            query = query.filter(content_ref=content_id)
        return await fetch_listing(
            query, offset=offset, limit=limit, order_by=("-created_at", "-id")
        )
