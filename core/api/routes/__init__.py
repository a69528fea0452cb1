"""Every route table of the sidecar, in the order they are mounted."""

from __future__ import annotations

from core.api.routes import auth, catalog, content, generation, health, orgs, usage
from core.api.routing import ApiRoutes

ROUTE_TABLES: list[ApiRoutes] = [
    health.api,
    auth.api,
    orgs.api,
    catalog.api,
    content.api,
    generation.api,
    usage.api,
]
METRICS_TABLE: ApiRoutes = health.metrics_api
