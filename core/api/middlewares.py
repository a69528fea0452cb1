"""The sidecar's one error path and its request ids.

Every failure leaves as ``{"error": {"code", "message", ...details}}`` with the status of
docs/architecture.md §3; messages (and each field's problem) follow the client's
``Accept-Language`` (fa or en). A database or Redis outage answers 503 with ``Retry-After`` and
is logged once per change (``core/api/availability.py``). Anything else unexpected is logged
once with the request id and answered 500 without internals.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import structlog
from aiohttp import web

from core import errors
from core.api.availability import RETRY_AFTER_SECONDS, unavailable_dependency
from core.api.http import MAX_BODY_BYTES
from core.api.keys import REQUEST_ID_KEY, SERVICES_KEY, WATCH_KEY
from core.api.routing import Handler
from core.i18n import translate
from core.metrics import HTTP_LATENCY, HTTP_REQUESTS
from core.presentation import error_message

logger = logging.getLogger(__name__)

STATUS_BY_CATEGORY: list[tuple[type[errors.DomainError], int]] = [
    (errors.InvalidInput, 400),
    (errors.UnsupportedMediaType, 415),
    (errors.Unauthenticated, 401),
    (errors.LimitExceeded, 402),
    (errors.PermissionDenied, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.RateLimited, 429),
    (errors.ServiceUnavailable, 503),
    (errors.ConfigurationError, 503),
]
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    414: "bad_request",
    415: "unsupported_media_type",
    431: "bad_request",
    501: "method_not_allowed",
}
SERVER_NAME = "Contexor"


def status_of(error: errors.DomainError) -> int:
    """The HTTP status of a domain error, by its category."""
    for category, status in STATUS_BY_CATEGORY:
        if isinstance(error, category):
            return status
    return 400


def request_language(request: web.Request) -> str:
    """``fa`` or ``en`` from ``Accept-Language`` (first match wins); English otherwise."""
    for part in request.headers.get("Accept-Language", "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in ("fa", "en"):
            return tag
    return "en"


def error_response(
    status: int,
    code: str,
    message: str,
    /,
    *,
    headers: dict[str, str] | None = None,
    **details: Any,
) -> web.Response:
    """The envelope; positional-only names leave ``status``, ``code``… free as detail keys."""
    body = {"error": {"code": code, "message": message, **details}}
    # Raw UTF-8, like every success body (Persian messages stay readable on the wire).
    return web.json_response(
        body, status=status, headers=headers, dumps=lambda v: json.dumps(v, ensure_ascii=False)
    )


def http_error_response(status: int, language: str, /, **details: Any) -> web.Response:
    """The envelope of an HTTP-level refusal (unknown path, method, size, parser error)."""
    code = HTTP_CODES.get(status, "http_error")
    return error_response(status, code, translate(language, f"error.{code}"), **details)


def render_domain_error(request: web.Request, error: errors.DomainError) -> web.Response:
    status = status_of(error)
    headers = {}
    if isinstance(error, errors.RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="contexor"'
    language = request_language(request)
    # ServiceUnavailable params may describe our gateway (credit, template): never echo them.
    details = {} if status >= 500 else dict(error.params)
    if isinstance(details.get("fields"), list):
        details["fields"] = [errors.localize_problem(p, language) for p in details["fields"]]
    message = error_message(language, error)
    return error_response(status, error.code, message, headers=headers, **details)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tag the request, its log lines and its response with an id; count and time it."""
    request_id = _safe_request_id(request.headers.get("X-Request-ID", ""))
    request[REQUEST_ID_KEY] = request_id
    started = time.perf_counter()
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        response = await handler(request)
    response.headers["X-Request-ID"] = request_id
    route = _route_template(request)
    HTTP_REQUESTS.labels(request.method, route, str(response.status)).inc()
    HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
    return response


def _safe_request_id(offered: str) -> str:
    """The client's id when it is short and printable (it lands in logs), else a fresh one."""
    if offered and len(offered) <= 64 and offered.isascii() and offered.isprintable():
        return offered
    return uuid.uuid4().hex


def _route_template(request: web.Request) -> str:
    """``/api/contents/{id}``, not the raw path: metric labels must stay few."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every exception into the error envelope."""
    watch = request.app[WATCH_KEY]
    try:
        response = await handler(request)
    except errors.DomainError as error:
        if isinstance(error, errors.ServiceUnavailable):
            dependency = unavailable_dependency(error)
            if dependency is not None:  # e.g. the rate limiter, failing closed without Redis
                watch.failed(dependency, error)
        return render_domain_error(request, error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        details = {"max_bytes": MAX_BODY_BYTES} if exc.status == 413 else {}
        response = http_error_response(exc.status, request_language(request), **details)
        response.headers.update(_allow(exc))
        return response
    except Exception as exc:
        dependency = unavailable_dependency(exc)
        if dependency is None:
            logger.exception("unhandled error", extra={"request_id": request.get(REQUEST_ID_KEY)})
            return error_response(500, "internal_error", "Internal error.")
        watch.failed(dependency, exc)
        return render_domain_error(request, errors.ServiceUnavailable())
    if watch.down:
        await watch.recheck(request.app[SERVICES_KEY].redis)
    return response


async def set_server_header(_: web.Request, response: web.StreamResponse) -> None:
    """``Server: Contexor``: no Python or aiohttp version for a scanner to match."""
    response.headers["Server"] = SERVER_NAME


def _allow(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}
