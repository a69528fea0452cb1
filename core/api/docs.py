"""``/api/docs``: Swagger UI for ``/api/openapi.json``, served from the installed package
``swagger-ui-py`` (its ``static`` folder), so the page needs nothing from the internet."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from aiohttp import web

ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript"}

DOCS_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Contexor API</title>
<link rel="stylesheet" href="/api/docs/static/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/api/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/api/openapi.json", dom_id: "#ui"});</script>
</body></html>"""


@cache
def _asset(name: str) -> bytes:
    return (files("swagger_ui") / "static" / name).read_bytes()


async def docs_page(_: web.Request) -> web.Response:
    return web.Response(text=DOCS_HTML, content_type="text/html")


async def docs_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    return web.Response(
        body=_asset(name),
        content_type=ASSETS[name],
        headers={"Cache-Control": "public, max-age=86400"},
    )


def add_docs_routes(app: web.Application) -> None:
    for path in ("/api/docs", "/api/docs/"):
        app.router.add_get(path, docs_page)
    app.router.add_get("/api/docs/static/{name}", docs_asset)
