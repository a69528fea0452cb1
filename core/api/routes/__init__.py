"""Every route table of the sidecar, in the order they are mounted."""

from __future__ import annotations

from core.api.routes import (
    audit,
    auth,
    content,
    generation,
    health,
    orgs,
    projects,
    prompts,
    usage,
    workspaces,
)
from core.api.routing import ApiRoutes

ROUTE_TABLES: list[ApiRoutes] = [
    health.api,
    auth.api,
    orgs.api,
    workspaces.api,
    projects.api,
    prompts.api,
    content.api,
    audit.api,
    generation.api,
    usage.api,
]
METRICS_TABLE: ApiRoutes = health.metrics_api
