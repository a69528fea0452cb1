"""``/api/prompts`` (docs/architecture.md §3): every member reads them, editors and admins write.

A list takes ``?organization= ?workspace= ?category= ?kind= ?language=``; naming an organisation
or workspace the caller cannot see answers 404, like any unknown id.
"""

from __future__ import annotations

from aiohttp import web

from core.api.auth import current_user
from core.api.http import given_fields, json_response, no_content, parse_body, parse_query, path_id
from core.api.keys import SERVICES_KEY
from core.api.pagination import Page, page_of
from core.api.routing import ApiRoutes
from core.api.schemas.prompts import PromptIn, PromptListQuery, PromptOut, PromptUpdateIn
from core.services.prompts import PromptFilters

# The OpenAPI tag of workspaces, projects and prompts together, as clients know it.
api = ApiRoutes(tag="catalog")


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
    changes = given_fields(body, exclude={"workspace"})
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
