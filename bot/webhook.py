"""Webhook mode: Telegram POSTs updates to a route of the aiohttp sidecar.

The route is added when the sidecar's app is built (``create_app(..., extra_routes=…)``),
before aiohttp freezes its router. Telegram sends ``X-Telegram-Bot-Api-Secret-Token`` with the
secret given to ``setWebhook``; a request without the right one is answered 403 and never reaches
the bot. Without ``TELEGRAM_WEBHOOK_SECRET`` (development only; production refuses to start) the
secret is derived from ``SECRET_KEY``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from core.settings import Settings

logger = logging.getLogger("contexor.bot")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
DEFAULT_PATH = "/telegram/webhook"
# Update types the bot handles; Telegram drops the rest before sending.
ALLOWED_UPDATES = ["message", "callback_query"]
MAX_BODY_BYTES = 1 << 20


def webhook_secret(settings: Settings) -> str:
    """The secret Telegram must echo (1-256 of ``A-Za-z0-9_-``)."""
    if settings.telegram_webhook_secret is not None:
        return settings.telegram_webhook_secret.get_secret_value()
    return hmac.new(settings.signing_key(), b"telegram-webhook", hashlib.sha256).hexdigest()


def webhook_path(settings: Settings) -> str:
    """The route's path: the path of ``TELEGRAM_WEBHOOK_URL`` (a proxy keeps it)."""
    path = urlsplit(settings.telegram_webhook_url or "").path
    return path if path not in ("", "/") else DEFAULT_PATH


def webhook_route(application: Application, settings: Settings) -> web.RouteDef:
    """The POST route that checks the secret and queues the update for the application."""
    secret = webhook_secret(settings).encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, secret):
            return web.Response(status=403, text="forbidden")
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return web.Response(status=413)
        try:
            payload = json.loads(await request.read())
            update = Update.de_json(payload, application.bot)
        except (ValueError, TypeError, KeyError):
            logger.warning("webhook: an undecodable update was ignored")
            return web.Response(status=400, text="bad update")
        await application.update_queue.put(update)
        return web.Response(text="ok")

    return web.post(webhook_path(settings), receive)


async def set_webhook(application: Application, settings: Settings) -> None:
    """Tell Telegram where to send updates, with the secret and the update types."""
    await application.bot.set_webhook(
        url=settings.telegram_webhook_url or "",
        secret_token=webhook_secret(settings),
        allowed_updates=ALLOWED_UPDATES,
    )
