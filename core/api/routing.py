"""Route tables that also describe themselves for OpenAPI.

``ApiRoutes`` wraps ``web.RouteTableDef``: each route is registered with and without a trailing
slash (both answer directly, no redirect), and its pydantic models are recorded so
``core/api/openapi.py`` builds ``/api/openapi.json`` from the very models that validate requests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Operation:
    """What OpenAPI needs to know about one route."""

    method: str
    path: str
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    errors: tuple[int, ...] = ()
    # Error statuses whose body is not the envelope, e.g. ``/healthz``'s 503.
    error_bodies: tuple[tuple[int, type[BaseModel]], ...] = ()


@dataclass
class ApiRoutes:
    """One resource's routes; ``routes`` is handed to ``app.add_routes``."""

    tag: str
    routes: web.RouteTableDef = field(default_factory=web.RouteTableDef)
    operations: list[Operation] = field(default_factory=list)

    def route(self, method: str, path: str, **spec: object) -> Callable[[Handler], Handler]:
        """Register ``handler`` for ``method path`` and ``path/``, and describe it."""

        def register(handler: Handler) -> Handler:
            self.operations.append(Operation(method=method, path=path, tag=self.tag, **spec))
            self.routes.route(method, path)(handler)
            self.routes.route(method, path.rstrip("/") + "/")(handler)
            return handler

        return register

    def get(self, path: str, **spec: object) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **spec)

    def post(self, path: str, **spec: object) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **spec)

    def put(self, path: str, **spec: object) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **spec)

    def patch(self, path: str, **spec: object) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **spec)

    def delete(self, path: str, **spec: object) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **spec)
