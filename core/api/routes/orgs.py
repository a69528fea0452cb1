"""``/api/organizations`` and their ``/members``: members read, admins write."""

from __future__ import annotations

from aiohttp import web

from core.api.auth import current_user
from core.api.http import json_response, no_content, parse_body, parse_query, path_id
from core.api.keys import SERVICES_KEY
from core.api.pagination import Page, PageQuery, page_of
from core.api.routing import ApiRoutes
from core.api.schemas.orgs import (
    MemberInviteIn,
    MemberOut,
    MemberRoleIn,
    OrganizationIn,
    OrganizationOut,
    OrganizationUpdateIn,
)

api = ApiRoutes(tag="organizations")

ORGANIZATION = "/api/organizations/{id}"
MEMBERS = "/api/organizations/{id}/members"
MEMBER = "/api/organizations/{id}/members/{user_id}"


@api.get(
    "/api/organizations",
    summary="The caller's organisations",
    query=PageQuery,
    response=Page[OrganizationOut],
)
async def list_organizations(request: web.Request) -> web.Response:
    """200 page of the organisations the caller belongs to."""
    actor = await current_user(request)
    query = parse_query(request, PageQuery)
    listing = await request.app[SERVICES_KEY].organizations.list_organizations(
        actor=actor, offset=query.offset, limit=query.page_size
    )
    results = [OrganizationOut.from_domain(o) for o in listing.items]
    return json_response(page_of(request, query, listing.count, results))


@api.post(
    "/api/organizations",
    summary="Create an organisation; the caller becomes its admin",
    body=OrganizationIn,
    response=OrganizationOut,
    status=201,
    errors=(403, 429),
)
async def create_organization(request: web.Request) -> web.Response:
    """201 the organisation, with a default workspace, project and the prompt library; 403
    ``organization_limit_reached`` past MAX_ORGANIZATIONS_PER_USER, 429
    ``organization_create_rate``."""
    actor = await current_user(request)
    body = await parse_body(request, OrganizationIn)
    organization = await request.app[SERVICES_KEY].organizations.create_organization(
        actor=actor, name=body.name, language=body.language
    )
    return json_response(OrganizationOut.from_domain(organization), status=201)


@api.get(ORGANIZATION, summary="One organisation", response=OrganizationOut)
async def get_organization(request: web.Request) -> web.Response:
    """200 the organisation; 404 for one the caller does not belong to."""
    actor = await current_user(request)
    organization = await request.app[SERVICES_KEY].organizations.get_organization(
        actor=actor, organization_id=path_id(request)
    )
    return json_response(OrganizationOut.from_domain(organization))


@api.patch(
    ORGANIZATION,
    summary="Rename the organisation or change its language (admins)",
    body=OrganizationUpdateIn,
    response=OrganizationOut,
    errors=(403,),
)
async def update_organization(request: web.Request) -> web.Response:
    """200 the organisation; the slug never changes."""
    actor = await current_user(request)
    organization_id = path_id(request)
    body = await parse_body(request, OrganizationUpdateIn)
    organization = await request.app[SERVICES_KEY].organizations.update_organization(
        actor=actor, organization_id=organization_id, **_given(body)
    )
    return json_response(OrganizationOut.from_domain(organization))


@api.get(MEMBERS, summary="Members and their roles", query=PageQuery, response=Page[MemberOut])
async def list_members(request: web.Request) -> web.Response:
    """200 page of members; any member may read it."""
    actor = await current_user(request)
    organization_id = path_id(request)
    query = parse_query(request, PageQuery)
    listing = await request.app[SERVICES_KEY].organizations.list_members(
        actor=actor, organization_id=organization_id, offset=query.offset, limit=query.page_size
    )
    results = [MemberOut.from_domain(m) for m in listing.items]
    return json_response(page_of(request, query, listing.count, results))


@api.post(
    MEMBERS,
    summary="Invite a person by phone number with a role (admins)",
    body=MemberInviteIn,
    response=MemberOut,
    status=201,
    errors=(403, 409),
)
async def invite_member(request: web.Request) -> web.Response:
    """201 the membership (the user is created if new); 409 ``already_member``."""
    actor = await current_user(request)
    organization_id = path_id(request)
    body = await parse_body(request, MemberInviteIn)
    membership = await request.app[SERVICES_KEY].organizations.invite_member(
        actor=actor,
        organization_id=organization_id,
        phone_number=body.phone_number,
        role=body.role,
        language=body.language,
        full_name=body.full_name,
    )
    return json_response(MemberOut.from_domain(membership), status=201)


@api.get(MEMBER, summary="One member", response=MemberOut)
async def get_member(request: web.Request) -> web.Response:
    """200 the membership; 404 for a user who is not a member."""
    actor = await current_user(request)
    membership = await request.app[SERVICES_KEY].organizations.get_member(
        actor=actor, organization_id=path_id(request), user_id=path_id(request, "user_id")
    )
    return json_response(MemberOut.from_domain(membership))


@api.patch(
    MEMBER,
    summary="Change a member's role (admins)",
    body=MemberRoleIn,
    response=MemberOut,
    errors=(403, 409),
)
async def change_role(request: web.Request) -> web.Response:
    """200 the membership; 409 ``last_admin`` when it would leave no admin."""
    actor = await current_user(request)
    organization_id, user_id = path_id(request), path_id(request, "user_id")
    body = await parse_body(request, MemberRoleIn)
    membership = await request.app[SERVICES_KEY].organizations.change_role(
        actor=actor, organization_id=organization_id, user_id=user_id, role=body.role
    )
    return json_response(MemberOut.from_domain(membership))


@api.delete(MEMBER, summary="Remove a member (admins)", status=204, errors=(403, 409))
async def remove_member(request: web.Request) -> web.Response:
    """204; 409 ``last_admin`` for the organisation's only admin."""
    actor = await current_user(request)
    await request.app[SERVICES_KEY].organizations.remove_member(
        actor=actor, organization_id=path_id(request), user_id=path_id(request, "user_id")
    )
    return no_content()


def _given(body: OrganizationUpdateIn) -> dict[str, object]:
    """The fields the client sent with a value (null and absent both mean "unchanged")."""
    fields = type(body).model_fields
    return {name: getattr(body, name) for name in fields if getattr(body, name) is not None}
