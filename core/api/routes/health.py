"""Liveness and metrics: ``/healthz`` (database and Redis) and ``/metrics`` (Prometheus).

``/metrics`` is its own table: ``create_app`` mounts it only when ``METRICS_ENABLED`` (by
default, when the API listens on loopback only).
"""

from __future__ import annotations

import asyncio
from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel

from core.api.availability import DATABASE, REDIS, database_ok, redis_ok
from core.api.keys import SERVICES_KEY, WATCH_KEY
from core.api.routing import ApiRoutes

api = ApiRoutes(tag="health")
metrics_api = ApiRoutes(tag="health")


class HealthOut(BaseModel):
    status: Literal["ok", "error"]
    database: Literal["ok", "error"]
    redis: Literal["ok", "error", "not_configured"]


@api.get(
    "/healthz",
    summary="Health of the database and Redis",
    auth=False,
    response=HealthOut,
    errors=(503,),
    error_bodies=((503, HealthOut),),
)
async def healthz(request: web.Request) -> web.Response:
    """200 when every configured dependency answers, 503 otherwise."""
    watch = request.app[WATCH_KEY]
    database_up = await database_ok()
    redis_up = await redis_ok(request.app[SERVICES_KEY].redis)
    # The watch logs a dependency going down or coming back once, not on every probe.
    watch.report(DATABASE, database_up)
    watch.report(REDIS, redis_up)
    database = "ok" if database_up else "error"
    redis = {None: "not_configured", True: "ok", False: "error"}[redis_up]
    healthy = database == "ok" and redis != "error"
    body = {"status": "ok" if healthy else "error", "database": database, "redis": redis}
    return web.json_response(body, status=200 if healthy else 503)


@metrics_api.get("/metrics", summary="Prometheus metrics", auth=False)
async def metrics(request: web.Request) -> web.Response:
    """The default registry in the Prometheus text format."""
    payload = await asyncio.to_thread(generate_latest, REGISTRY)
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})
