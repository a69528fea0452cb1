"""Usage: the summary of a scope's current period, and the limits admins set."""

from __future__ import annotations

from aiohttp import web

from core.api.auth import current_user
from core.api.http import json_response, parse_body, parse_query
from core.api.keys import SERVICES_KEY
from core.api.pagination import Page, page_of
from core.api.routing import ApiRoutes
from core.api.schemas.usage import LimitIn, LimitOut, LimitsQuery, SummaryQuery, UsageSummaryOut
from core.services.common import UNSET

api = ApiRoutes(tag="usage")


@api.get(
    "/api/usage/summary",
    summary="Totals and per-model breakdown of a scope's current period",
    query=SummaryQuery,
    response=UsageSummaryOut,
    errors=(403, 404),
)
async def summary(request: web.Request) -> web.Response:
    """Editors+ read their organisation's and workspaces' usage; everyone reads their own."""
    actor = await current_user(request)
    query = parse_query(request, SummaryQuery)
    result = await request.app[SERVICES_KEY].usage.summary(
        actor=actor, scope=query.scope, scope_id=query.target, period=query.period
    )
    return json_response(UsageSummaryOut.from_domain(result))


@api.get(
    "/api/usage/limits",
    summary="Usage limits of the organisations the caller administers",
    query=LimitsQuery,
    response=Page[LimitOut],
    errors=(403, 404),
)
async def list_limits(request: web.Request) -> web.Response:
    """A page of limit rows (admins only)."""
    actor = await current_user(request)
    query = parse_query(request, LimitsQuery)
    listing = await request.app[SERVICES_KEY].usage.list_limits(
        actor=actor, organization_id=query.organization, offset=query.offset, limit=query.page_size
    )
    limits = [LimitOut.from_model(r) for r in listing.items]
    return json_response(page_of(request, query, listing.count, limits))


@api.put(
    "/api/usage/limits",
    summary="Create or replace the limit of one scope and period",
    body=LimitIn,
    response=LimitOut,
    errors=(400, 403, 404),
)
async def put_limit(request: web.Request) -> web.Response:
    """Upsert one limit per (scope, scope_id, period); ids of other tenants answer 404."""
    actor = await current_user(request)
    body = await parse_body(request, LimitIn)
    # An omitted cost differs from an explicit null: it keeps the default monthly budget.
    cost = body.cost if "cost_limit_usd" in body.model_fields_set else UNSET
    limit = await request.app[SERVICES_KEY].usage.set_limit(
        actor=actor,
        scope=body.scope,
        scope_id=body.scope_id,
        period=body.period,
        requests_limit=body.requests_limit,
        tokens_limit=body.tokens_limit,
        cost_limit_usd=cost,
        organization_id=body.organization_id,
    )
    return json_response(LimitOut.from_model(limit))
