"""``/api/audit-logs``: the audit trail of the caller's organisations (editors and admins).

Who may read which entries is decided in ``core/services/audit.py``.
"""

from __future__ import annotations

from aiohttp import web

from core.api.auth import current_user
from core.api.http import json_response, parse_query
from core.api.keys import SERVICES_KEY
from core.api.pagination import Page, page_of
from core.api.routing import ApiRoutes
from core.api.schemas.audit import AuditListQuery, AuditLogOut

# Listed under the contents tag, where the OpenAPI document has always shown it.
api = ApiRoutes(tag="contents")


@api.get(
    "/api/audit-logs",
    summary="Audit trail of the caller's organisations (editor+), newest first",
    query=AuditListQuery,
    response=Page[AuditLogOut],
    errors=(403, 404),
)
async def list_audit_logs(request: web.Request) -> web.Response:
    """200 page, filters ``?content= ?organization=``; 403 below editor everywhere."""
    actor = await current_user(request)
    query = parse_query(request, AuditListQuery)
    listing = await request.app[SERVICES_KEY].audit.list_entries(
        actor=actor,
        content_id=query.content,
        organization_id=query.organization,
        offset=query.offset,
        limit=query.page_size,
    )
    entries = [AuditLogOut.from_domain(e) for e in listing.items]
    return json_response(page_of(request, query, listing.count, entries))
