"""``/api/auth/*``: phone sign-in, token refresh, logout and the current user."""

from __future__ import annotations

from aiohttp import web

from core.api.auth import current_user
from core.api.client_address import client_address
from core.api.http import json_response, no_content, parse_body
from core.api.keys import SERVICES_KEY
from core.api.middlewares import request_language
from core.api.routing import ApiRoutes
from core.api.schemas.auth import (
    CodeSentOut,
    MembershipOut,
    MeOut,
    OrganizationRef,
    OtpRequestIn,
    OtpVerifyIn,
    RefreshIn,
    SignInOut,
    TokensOut,
    UserOut,
)
from core.container import Services
from core.services.auth import Profile
from db.models import User

api = ApiRoutes(tag="auth")


@api.post(
    "/api/auth/otp/request",
    summary="Send a login code by SMS",
    body=OtpRequestIn,
    response=CodeSentOut,
    auth=False,
    errors=(429, 503),
)
async def request_code(request: web.Request) -> web.Response:
    """200 ``{ttl, resend_after}``; 400 ``phone_region_not_accepted`` and other phone codes;
    429 ``otp_cooldown``/``otp_daily_cap``/``otp_requester_daily_cap``/``rate_limited``; 503
    ``sms_failed``."""
    services = request.app[SERVICES_KEY]
    body = await parse_body(request, OtpRequestIn)
    sent = await services.auth.request_code(
        body.phone_number,
        client_address=client_address(request, services.settings.trusted_proxies),
        language=_language(request, services),
    )
    return json_response(CodeSentOut(ttl=sent.ttl, resend_after=sent.resend_after))


@api.post(
    "/api/auth/otp/verify",
    summary="Sign in with the code",
    body=OtpVerifyIn,
    response=SignInOut,
    auth=False,
    errors=(401, 429),
)
async def verify_code(request: web.Request) -> web.Response:
    """200 ``{access, refresh, user}``; 400 ``invalid_code``/``code_expired``; 429."""
    services = request.app[SERVICES_KEY]
    body = await parse_body(request, OtpVerifyIn)
    signed_in = await services.auth.verify_code(
        body.phone_number,
        body.code,
        client_address=client_address(request, services.settings.trusted_proxies),
        language=_language(request, services),
    )
    return json_response(
        SignInOut(
            access=signed_in.tokens.access,
            refresh=signed_in.tokens.refresh,
            user=_user_out(signed_in.user),
        )
    )


@api.post(
    "/api/auth/token/refresh",
    summary="Rotate a refresh token",
    body=RefreshIn,
    response=TokensOut,
    auth=False,
    errors=(401,),
)
async def refresh(request: web.Request) -> web.Response:
    """200 ``{access, refresh}``; 401 for a bad, expired or reused token."""
    services = request.app[SERVICES_KEY]
    body = await parse_body(request, RefreshIn)
    tokens = await services.auth.refresh(body.refresh)
    return json_response(TokensOut(access=tokens.access, refresh=tokens.refresh))


@api.post("/api/auth/logout", summary="End the session", body=RefreshIn, status=204)
async def logout(request: web.Request) -> web.Response:
    """204; the refresh token's family is revoked."""
    actor = await current_user(request)
    body = await parse_body(request, RefreshIn)
    await request.app[SERVICES_KEY].auth.logout(body.refresh, actor=actor)
    return no_content()


@api.get("/api/auth/me", summary="The current user and their organisations", response=MeOut)
async def me(request: web.Request) -> web.Response:
    """200 the user with ``memberships``."""
    actor = await current_user(request)
    profile = await request.app[SERVICES_KEY].auth.me(actor)
    return json_response(_me_out(profile))


def _language(request: web.Request, services: Services) -> str:
    """The client's language when it names one, else the deployment's default."""
    if "Accept-Language" in request.headers:
        return request_language(request)
    return services.settings.default_language


def _user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id, phone_number=user.phone_number, full_name=user.full_name, language=user.language
    )


def _me_out(profile: Profile) -> MeOut:
    memberships = [
        MembershipOut(
            organization=OrganizationRef(
                id=m.organization_id, name=m.organization_name, slug=m.organization_slug
            ),
            role=m.role,
        )
        for m in profile.memberships
    ]
    return MeOut(**_user_out(profile.user).model_dump(), memberships=memberships)
