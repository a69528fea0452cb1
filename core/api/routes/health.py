"""Liveness and metrics: ``/healthz`` (database and Redis) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from tortoise import connections

from core.api.keys import SERVICES_KEY
from core.api.routing import ApiRoutes

logger = logging.getLogger(__name__)
api = ApiRoutes(tag="health")
CHECK_TIMEOUT_SECONDS = 2.0


async def _database_ok() -> bool:
    try:
        await asyncio.wait_for(
            connections.get("default").execute_query("SELECT 1"), CHECK_TIMEOUT_SECONDS
        )
    except Exception:
        logger.warning("health: database check failed", exc_info=True)
        return False
    return True


async def _redis_status(request: web.Request) -> str:
    redis = request.app[SERVICES_KEY].redis
    if redis is None:
        return "not_configured"
    try:
        await asyncio.wait_for(redis.ping(), CHECK_TIMEOUT_SECONDS)
    except Exception:
        logger.warning("health: redis check failed", exc_info=True)
        return "error"
    return "ok"


@api.get("/healthz", summary="Health of the database and Redis", auth=False, errors=(503,))
async def healthz(request: web.Request) -> web.Response:
    """200 when every configured dependency answers, 503 otherwise."""
    database = "ok" if await _database_ok() else "error"
    redis = await _redis_status(request)
    healthy = database == "ok" and redis != "error"
    body = {"status": "ok" if healthy else "error", "database": database, "redis": redis}
    return web.json_response(body, status=200 if healthy else 503)


@api.get("/metrics", summary="Prometheus metrics", auth=False)
async def metrics(request: web.Request) -> web.Response:
    """The default registry in the Prometheus text format."""
    payload = await asyncio.to_thread(generate_latest, REGISTRY)
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})
