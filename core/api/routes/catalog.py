"""``/api/workspaces``, ``/api/projects`` and ``/api/prompts`` (docs/architecture.md §3).

Every member reads them; admins write workspaces and projects, editors and admins write
prompts. Lists take ``?organization=`` (and ``?workspace=``, ``?category=`` …); naming an
organisation or workspace the caller cannot see answers 404, like any unknown id.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from core.api.auth import current_user
from core.api.http import json_response, no_content, parse_body, parse_query, path_id
from core.api.keys import SERVICES_KEY
from core.api.pagination import Page, page_of
from core.api.routing import ApiRoutes
from core.api.schemas.tenancy import (
    CatalogUpdateIn,
    ProjectIn,
    ProjectListQuery,
    ProjectOut,
    PromptIn,
    PromptListQuery,
    PromptOut,
    PromptUpdateIn,
    WorkspaceIn,
    WorkspaceListQuery,
    WorkspaceOut,
)
from core.services.prompts import PromptFilters

api = ApiRoutes(tag="catalog")


# -- workspaces ---------------------------------------------------------------------------


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
        actor=actor, workspace_id=workspace_id, **_given(body)
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


# -- projects -----------------------------------------------------------------------------


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
        actor=actor, project_id=project_id, **_given(body)
    )
    return json_response(ProjectOut.from_domain(project))


@api.delete("/api/projects/{id}", summary="Retire a project (admins)", status=204, errors=(403,))
async def delete_project(request: web.Request) -> web.Response:
    """204; the project disappears from every list."""
    actor = await current_user(request)
    await request.app[SERVICES_KEY].catalog.delete_project(actor=actor, project_id=path_id(request))
    return no_content()


# -- prompts ------------------------------------------------------------------------------


@api.get(
    "/api/prompts",
    summary="Prompts of the caller's organisations",
    query=PromptListQuery,
    response=Page[PromptOut],
    errors=(404,),
)
async def list_prompts(request: web.Request) -> web.Response:
    """200 page; filters ``?organization= ?workspace= ?category= ?kind= ?language=``."""
    actor = await current_user(request)
    query = parse_query(request, PromptListQuery)
    filters = PromptFilters(
        organization_id=query.organization,
        workspace_id=query.workspace,
        category=query.category,
        kind=query.kind,
        language=query.language,
    )
    listing = await request.app[SERVICES_KEY].prompts.list_prompts(
        actor=actor, filters=filters, offset=query.offset, limit=query.page_size
    )
    results = [PromptOut.from_domain(p) for p in listing.items]
    return json_response(page_of(request, query, listing.count, results))


@api.post(
    "/api/prompts",
    summary="Create a prompt (editors and admins)",
    body=PromptIn,
    response=PromptOut,
    status=201,
    errors=(403, 404),
)
async def create_prompt(request: web.Request) -> web.Response:
    """201 the prompt; 400 ``undeclared_variables`` when the template uses an undeclared name."""
    actor = await current_user(request)
    body = await parse_body(request, PromptIn)
    prompt = await request.app[SERVICES_KEY].prompts.create_prompt(
        actor=actor,
        organization_id=body.organization,
        workspace_id=body.workspace,
        title=body.title,
        template=body.template,
        variables=body.variables,
        category=body.category,
        kind=body.kind,
        language=body.language,
    )
    return json_response(PromptOut.from_domain(prompt), status=201)


@api.get("/api/prompts/{id}", summary="One prompt", response=PromptOut)
async def get_prompt(request: web.Request) -> web.Response:
    """200 the prompt; 404 unknown, retired or another tenant's."""
    actor = await current_user(request)
    prompt = await request.app[SERVICES_KEY].prompts.get_prompt(
        actor=actor, prompt_id=path_id(request)
    )
    return json_response(PromptOut.from_domain(prompt))


@api.patch(
    "/api/prompts/{id}",
    summary="Change a prompt (editors and admins)",
    body=PromptUpdateIn,
    response=PromptOut,
    errors=(403,),
)
async def update_prompt(request: web.Request) -> web.Response:
    """200 the prompt; the template and variables are checked together."""
    actor = await current_user(request)
    prompt_id = path_id(request)
    body = await parse_body(request, PromptUpdateIn)
    changes = _given(body, exclude={"workspace"})
    if "workspace" in body.model_fields_set:  # null is meaningful: organisation-wide
        changes["workspace_id"] = body.workspace
    prompt = await request.app[SERVICES_KEY].prompts.update_prompt(
        actor=actor, prompt_id=prompt_id, **changes
    )
    return json_response(PromptOut.from_domain(prompt))


@api.delete(
    "/api/prompts/{id}", summary="Retire a prompt (editors and admins)", status=204, errors=(403,)
)
async def delete_prompt(request: web.Request) -> web.Response:
    """204; content that used the prompt keeps its reference."""
    actor = await current_user(request)
    await request.app[SERVICES_KEY].prompts.delete_prompt(actor=actor, prompt_id=path_id(request))
    return no_content()


def _given(body: BaseModel, *, exclude: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields the client sent with a value (null and absent both mean "unchanged")."""
    return {
        name: getattr(body, name)
        for name in type(body).model_fields
        if name not in exclude and getattr(body, name) is not None
    }
