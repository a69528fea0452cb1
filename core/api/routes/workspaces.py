"""``/api/workspaces`` (docs/architecture.md §3): every member reads them, admins write them.

A list takes ``?organization=``; naming an organisation the caller cannot see answers 404, like
any unknown id.
"""

from __future__ import annotations

from aiohttp import web

from core.api.auth import current_user
from core.api.http import given_fields, json_response, no_content, parse_body, parse_query, path_id
from core.api.keys import SERVICES_KEY
from core.api.pagination import Page, page_of
from core.api.routing import ApiRoutes
from core.api.schemas.common import CatalogUpdateIn
from core.api.schemas.workspaces import WorkspaceIn, WorkspaceListQuery, WorkspaceOut

# The OpenAPI tag of workspaces, projects and prompts together, as clients know it.
api = ApiRoutes(tag="catalog")


@api.get(
    "/api/workspaces",
    summary="Workspaces of the caller's organisations",
    query=WorkspaceListQuery,
    response=Page[WorkspaceOut],
    errors=(404,),
)
async def list_workspaces(request: web.Request) -> web.Response:
    """200 page; ``?organization=`` narrows to one organisation."""
    actor = await current_user(request)
    query = parse_query(request, WorkspaceListQuery)
    listing = await request.app[SERVICES_KEY].catalog.list_workspaces(
        actor=actor, organization_id=query.organization, offset=query.offset, limit=query.page_size
    )
    results = [WorkspaceOut.from_domain(w) for w in listing.items]
    return json_response(page_of(request, query, listing.count, results))


@api.post(
    "/api/workspaces",
    summary="Create a workspace (admins)",
    body=WorkspaceIn,
    response=WorkspaceOut,
    status=201,
    errors=(403, 404),
)
async def create_workspace(request: web.Request) -> web.Response:
    """201 the workspace, its slug made from the name and unique in the organisation."""
    actor = await current_user(request)
    body = await parse_body(request, WorkspaceIn)
    workspace = await request.app[SERVICES_KEY].catalog.create_workspace(
        actor=actor,
        organization_id=body.organization,
        name=body.name,
        description=body.description,
    )
    return json_response(WorkspaceOut.from_domain(workspace), status=201)


@api.get("/api/workspaces/{id}", summary="One workspace", response=WorkspaceOut)
async def get_workspace(request: web.Request) -> web.Response:
    """200 the workspace; 404 unknown, retired or another tenant's."""
    actor = await current_user(request)
    workspace = await request.app[SERVICES_KEY].catalog.get_workspace(
        actor=actor, workspace_id=path_id(request)
    )
    return json_response(WorkspaceOut.from_domain(workspace))


@api.patch(
    "/api/workspaces/{id}",
    summary="Rename or describe a workspace (admins)",
    body=CatalogUpdateIn,
    response=WorkspaceOut,
    errors=(403,),
)
async def update_workspace(request: web.Request) -> web.Response:
    """200 the workspace; the slug never changes."""
    actor = await current_user(request)
    workspace_id = path_id(request)
    body = await parse_body(request, CatalogUpdateIn)
    workspace = await request.app[SERVICES_KEY].catalog.update_workspace(
        actor=actor, workspace_id=workspace_id, **given_fields(body)
    )
    return json_response(WorkspaceOut.from_domain(workspace))


@api.delete(
    "/api/workspaces/{id}", summary="Retire a workspace (admins)", status=204, errors=(403,)
)
async def delete_workspace(request: web.Request) -> web.Response:
    """204; the workspace and its projects disappear from every list."""
    actor = await current_user(request)
    await request.app[SERVICES_KEY].catalog.delete_workspace(
        actor=actor, workspace_id=path_id(request)
    )
    return no_content()
