"""``/api/projects`` (docs/architecture.md §3): every member reads them, admins write them.

A list takes ``?organization=`` and ``?workspace=``; naming one the caller cannot see answers
404, like any unknown id.
"""

from __future__ import annotations

from aiohttp import web

from core.api.auth import current_user
from core.api.http import given_fields, json_response, no_content, parse_body, parse_query, path_id
from core.api.keys import SERVICES_KEY
from core.api.pagination import Page, page_of
from core.api.routing import ApiRoutes
from core.api.schemas.common import CatalogUpdateIn
from core.api.schemas.projects import ProjectIn, ProjectListQuery, ProjectOut

# The OpenAPI tag of workspaces, projects and prompts together, as clients know it.
api = ApiRoutes(tag="catalog")


@api.get(
    "/api/projects",
    summary="Projects of the caller's organisations",
    query=ProjectListQuery,
    response=Page[ProjectOut],
    errors=(404,),
)
async def list_projects(request: web.Request) -> web.Response:
    """200 page; ``?organization=`` and ``?workspace=`` narrow it."""
    actor = await current_user(request)
    query = parse_query(request, ProjectListQuery)
    listing = await request.app[SERVICES_KEY].catalog.list_projects(
        actor=actor,
        organization_id=query.organization,
        workspace_id=query.workspace,
        offset=query.offset,
        limit=query.page_size,
    )
    results = [ProjectOut.from_domain(p) for p in listing.items]
    return json_response(page_of(request, query, listing.count, results))


@api.post(
    "/api/projects",
    summary="Create a project in a workspace (admins)",
    body=ProjectIn,
    response=ProjectOut,
    status=201,
    errors=(403, 404),
)
async def create_project(request: web.Request) -> web.Response:
    """201 the project, its slug unique in the workspace."""
    actor = await current_user(request)
    body = await parse_body(request, ProjectIn)
    project = await request.app[SERVICES_KEY].catalog.create_project(
        actor=actor, workspace_id=body.workspace, name=body.name, description=body.description
    )
    return json_response(ProjectOut.from_domain(project), status=201)


@api.get("/api/projects/{id}", summary="One project", response=ProjectOut)
async def get_project(request: web.Request) -> web.Response:
    """200 the project; 404 unknown, retired or another tenant's."""
    actor = await current_user(request)
    project = await request.app[SERVICES_KEY].catalog.get_project(
        actor=actor, project_id=path_id(request)
    )
    return json_response(ProjectOut.from_domain(project))


@api.patch(
    "/api/projects/{id}",
    summary="Rename or describe a project (admins)",
    body=CatalogUpdateIn,
    response=ProjectOut,
    errors=(403,),
)
async def update_project(request: web.Request) -> web.Response:
    """200 the project; the slug never changes."""
    actor = await current_user(request)
    project_id = path_id(request)
    body = await parse_body(request, CatalogUpdateIn)
    project = await request.app[SERVICES_KEY].catalog.update_project(
        actor=actor, project_id=project_id, **given_fields(body)
    )
    return json_response(ProjectOut.from_domain(project))


@api.delete("/api/projects/{id}", summary="Retire a project (admins)", status=204, errors=(403,))
async def delete_project(request: web.Request) -> web.Response:
    """204; the project disappears from every list."""
    actor = await current_user(request)
    await request.app[SERVICES_KEY].catalog.delete_project(actor=actor, project_id=path_id(request))
    return no_content()
