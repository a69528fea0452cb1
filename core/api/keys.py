"""Every typed key of the aiohttp app and its requests, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from core.api.availability import DependencyWatch
    from core.container import Services
    from core.security.principal import Principal

SERVICES_KEY: web.AppKey[Services] = web.AppKey("services")
REQUEST_ID_KEY: web.RequestKey[str] = web.RequestKey("request_id", str)
WATCH_KEY: web.AppKey[DependencyWatch] = web.AppKey("dependency_watch")
# The caller of one request, built by ``core/api/auth.py`` on first use and reused after.
PRINCIPAL_KEY: web.RequestKey[Principal] = web.RequestKey("principal", object)
