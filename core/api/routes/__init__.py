"""Every route table of the sidecar, in the order they are mounted."""

from __future__ import annotations

from core.api.routes import health
from core.api.routing import ApiRoutes

ROUTE_TABLES: list[ApiRoutes] = [
    health.api,
]
