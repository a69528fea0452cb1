"""Liveness, readiness and metrics: ``/healthz``, ``/readyz`` and ``/metrics`` (Prometheus).

``/metrics`` is its own table: ``create_app`` mounts it only when ``METRICS_ENABLED`` (by
default, when the API listens on loopback only).
"""

from __future__ import annotations

import asyncio
from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel

from core.api.availability import DATABASE, REDIS, database_ready, redis_ok
from core.api.keys import SERVICES_KEY, WATCH_KEY
from core.api.routing import ApiRoutes

api = ApiRoutes(tag="health")
metrics_api = ApiRoutes(tag="health")


class LiveOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ok", "degraded", "error"]
    database: Literal["ok", "error"]
    redis: Literal["ok", "error", "not_configured"]


@api.get("/healthz", summary="Liveness: the process answers", auth=False, response=LiveOut)
async def healthz(request: web.Request) -> web.Response:
    """Always 200 while the process serves: touches no dependency, so a database or Redis
    outage never gets a live instance restarted (that is what ``/readyz`` reports)."""
    return web.json_response({"status": "ok"})


@api.get(
    "/readyz",
    summary="Readiness: the database answers (Redis reported, not required)",
    auth=False,
    response=ReadyOut,
    errors=(503,),
    error_bodies=((503, ReadyOut),),
)
async def readyz(request: web.Request) -> web.Response:
    """200 when the database answers (``degraded`` if Redis does not: only sign-in needs it),
    503 when it does not. The database is asked on a connection of its own, never queued
    behind the pool."""
    services = request.app[SERVICES_KEY]
    watch = request.app[WATCH_KEY]
    database_up = await database_ready(services.settings.database_url)
    redis_up = await redis_ok(services.redis)
    # The watch logs a dependency going down or coming back once, not on every probe.
    watch.report(DATABASE, database_up)
    watch.report(REDIS, redis_up)
    redis = {None: "not_configured", True: "ok", False: "error"}[redis_up]
    status = "error" if not database_up else "degraded" if redis == "error" else "ok"
    body = {"status": status, "database": "ok" if database_up else "error", "redis": redis}
    return web.json_response(body, status=200 if database_up else 503)


@metrics_api.get("/metrics", summary="Prometheus metrics", auth=False)
async def metrics(request: web.Request) -> web.Response:
    """The default registry in the Prometheus text format."""
    payload = await asyncio.to_thread(generate_latest, REGISTRY)
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})
