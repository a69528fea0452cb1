"""The sidecar's application factory: no globals, everything from ``services``."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from core.api.availability import DependencyWatch
from core.api.docs import add_docs_routes
from core.api.http import MAX_BODY_BYTES
from core.api.keys import SERVICES_KEY, WATCH_KEY
from core.api.middlewares import error_middleware, request_id_middleware, set_server_header
from core.api.openapi import build_spec
from core.api.routes import METRICS_TABLE, ROUTE_TABLES
from core.container import Services


def create_app(
    services: Services, *, extra_routes: Iterable[web.AbstractRouteDef] = ()
) -> web.Application:
    """A ready ``web.Application`` serving the REST API.

    ``extra_routes`` are added with the API's own, before aiohttp freezes the router: the
    Telegram webhook (``bot/webhook.py``) comes in this way, since ``core`` never imports ``bot``.
    ``client_max_size`` makes aiohttp refuse a larger body (413) before reading it.
    """
    app = web.Application(
        middlewares=[request_id_middleware, error_middleware], client_max_size=MAX_BODY_BYTES
    )
    app[SERVICES_KEY] = services
    app[WATCH_KEY] = DependencyWatch()
    app.on_response_prepare.append(set_server_header)
    tables = list(ROUTE_TABLES)
    if services.settings.serves_metrics:
        tables.append(METRICS_TABLE)
    for table in tables:
        app.add_routes(table.routes)
    app.add_routes(list(extra_routes))
    spec = build_spec(tables, version=_version())

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(spec)

    for path in ("/api/openapi.json", "/api/openapi.json/"):
        app.router.add_get(path, openapi)
    add_docs_routes(app)
    return app


def _version() -> str:
    try:
        return version("contexor")
    except PackageNotFoundError:
        return "0.0.0"
