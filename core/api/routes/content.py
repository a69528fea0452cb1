"""``/api/contents*``: parse, call one content service method, render.

Every permission, tenant and state rule is in ``core/services/content.py``; a route only
authenticates, validates the input and picks the status code of success.
"""

from __future__ import annotations

from aiohttp import web

from core.api.auth import current_user
from core.api.http import json_response, no_content, parse_body, parse_query, path_id
from core.api.keys import SERVICES_KEY
from core.api.pagination import Page, PageQuery, page_of
from core.api.routing import ApiRoutes
from core.api.schemas.content import (
    LOCK_CONFLICT,
    ApproveIn,
    ContentCreateIn,
    ContentListQuery,
    ContentOut,
    ContentSummaryOut,
    ContentUpdateIn,
    RejectIn,
    VersionOut,
)

api = ApiRoutes(tag="contents")


@api.get(
    "/api/contents",
    summary="Content the caller may see, newest first (an excerpt of each body)",
    query=ContentListQuery,
    response=Page[ContentSummaryOut],
    errors=(404,),  # a filter naming an organisation, workspace or project the caller cannot see
)
async def list_contents(request: web.Request) -> web.Response:
    """200 page; filters ``?organization= ?workspace= ?project= ?status= ?search=``."""
    actor = await current_user(request)
    query = parse_query(request, ContentListQuery)
    listing = await request.app[SERVICES_KEY].content.list_summaries(
        actor=actor,
        organization_id=query.organization,
        workspace_id=query.workspace,
        project_id=query.project,
        status=query.status,
        search=query.search,
        offset=query.offset,
        limit=query.page_size,
    )
    results = [ContentSummaryOut.from_domain(c) for c in listing.items]
    return json_response(page_of(request, query, listing.count, results))


@api.post(
    "/api/contents",
    summary="Create a draft in a project",
    body=ContentCreateIn,
    response=ContentOut,
    status=201,
    errors=(403, 404),
)
async def create_content(request: web.Request) -> web.Response:
    """201 the draft; 404 unknown or foreign project; 400 ``unknown_prompt``."""
    actor = await current_user(request)
    body = await parse_body(request, ContentCreateIn)
    content = await request.app[SERVICES_KEY].content.create(
        actor=actor,
        project_id=body.project,
        title=body.title,
        body=body.body,
        prompt_id=body.prompt,
        variables=body.variables,
    )
    return json_response(ContentOut.from_domain(content), status=201)


@api.get("/api/contents/{id}", summary="One content item", response=ContentOut)
async def get_content(request: web.Request) -> web.Response:
    """200 the content; 404 when the caller may not see it."""
    actor = await current_user(request)
    content = await request.app[SERVICES_KEY].content.get(actor=actor, content_id=path_id(request))
    return json_response(ContentOut.from_domain(content))


@api.patch(
    "/api/contents/{id}",
    summary="Edit title, body or variables (a text change adds a version)",
    body=ContentUpdateIn,
    response=ContentOut,
    errors=(403, 409),
    error_bodies=LOCK_CONFLICT,
)
async def update_content(request: web.Request) -> web.Response:
    """200 the content; 409 when approved, generating, or in review for its writer.

    A 409 ``content_generating`` says when the author may unlock it (``unlock_at``, UTC, and
    ``retry_after`` seconds, 0 meaning now) and which content (``content_id``)."""
    actor = await current_user(request)
    content_id = path_id(request)
    body = await parse_body(request, ContentUpdateIn)
    content = await request.app[SERVICES_KEY].content.update(
        actor=actor,
        content_id=content_id,
        title=body.title,
        body=body.body,
        variables=body.variables,
    )
    return json_response(ContentOut.from_domain(content))


@api.delete(
    "/api/contents/{id}",
    summary="Delete (soft; the audit trail stays)",
    status=204,
    errors=(403, 409),
    error_bodies=LOCK_CONFLICT,
)
async def delete_content(request: web.Request) -> web.Response:
    """204; 403 for a writer's approved content; 409 while generating."""
    actor = await current_user(request)
    await request.app[SERVICES_KEY].content.delete(actor=actor, content_id=path_id(request))
    return no_content()


@api.post(
    "/api/contents/{id}/unlock",
    summary="Unlock a content stuck in generating (its job died or shows no life)",
    response=ContentOut,
    errors=(403, 409),
    error_bodies=LOCK_CONFLICT,
)
async def unlock_content(request: web.Request) -> web.Response:
    """200 the content back in its previous state; 409 ``generation_still_running`` with
    ``unlock_at`` and ``retry_after`` seconds while the job may be alive, ``not_generating``
    when not locked."""
    actor = await current_user(request)
    content = await request.app[SERVICES_KEY].generation.unlock(
        actor=actor, content_id=path_id(request)
    )
    return json_response(ContentOut.from_domain(content))


@api.post(
    "/api/contents/{id}/submit",
    summary="Send a draft to review",
    response=ContentOut,
    errors=(403, 409),
    error_bodies=LOCK_CONFLICT,
)
async def submit_content(request: web.Request) -> web.Response:
    """200 the content in review; 409 from any other state or with an empty body."""
    actor = await current_user(request)
    content = await request.app[SERVICES_KEY].content.submit(
        actor=actor, content_id=path_id(request)
    )
    return json_response(ContentOut.from_domain(content))


@api.post(
    "/api/contents/{id}/approve",
    summary="Approve content in review (editor+)",
    body=ApproveIn,
    response=ContentOut,
    errors=(403, 409),
)
async def approve_content(request: web.Request) -> web.Response:
    """200 approved; 409 ``already_decided`` (naming the decider) or not in review."""
    actor = await current_user(request)
    content_id = path_id(request)
    body = await parse_body(request, ApproveIn)
    content = await request.app[SERVICES_KEY].content.approve(
        actor=actor, content_id=content_id, note=body.note
    )
    return json_response(ContentOut.from_domain(content))


@api.post(
    "/api/contents/{id}/reject",
    summary="Reject content in review with a reason (editor+)",
    body=RejectIn,
    response=ContentOut,
    errors=(403, 409),
)
async def reject_content(request: web.Request) -> web.Response:
    """200 rejected; 400 ``reason_required``; 409 ``already_decided`` or not in review."""
    actor = await current_user(request)
    content_id = path_id(request)
    body = await parse_body(request, RejectIn)
    content = await request.app[SERVICES_KEY].content.reject(
        actor=actor, content_id=content_id, reason=body.reason
    )
    return json_response(ContentOut.from_domain(content))


@api.get(
    "/api/contents/{id}/versions",
    summary="Versions of a content item, newest first",
    query=PageQuery,
    response=Page[VersionOut],
    errors=(403,),
)
async def list_versions(request: web.Request) -> web.Response:
    """200 page; 403 for readers who may not edit the content."""
    actor = await current_user(request)
    content_id = path_id(request)
    query = parse_query(request, PageQuery)
    listing = await request.app[SERVICES_KEY].content.list_versions(
        actor=actor, content_id=content_id, offset=query.offset, limit=query.page_size
    )
    versions = [VersionOut.from_domain(v) for v in listing.items]
    return json_response(page_of(request, query, listing.count, versions))
