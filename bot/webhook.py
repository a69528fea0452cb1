"""Webhook mode: Telegram POSTs updates to a route of the aiohttp sidecar.

The route is added when the sidecar's app is built (``create_app(..., extra_routes=…)``),
before aiohttp freezes its router. Telegram sends ``X-Telegram-Bot-Api-Secret-Token`` with the
secret given to ``setWebhook``; a request without the right one is answered 403 and never reaches
the bot. With Redis the update goes to the stream all replicas (and all ``API_WORKERS`` of each)
share, so any of them serves the route, and the holder of the bot lease processes it
(``bot/update_queue.py``); without, to this process's Application. Without
``TELEGRAM_WEBHOOK_SECRET`` (development only; production refuses to start) the
secret is derived from ``SECRET_KEY``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError
from telegram import Update
from telegram.ext import Application

from core.settings import Settings

logger = logging.getLogger("contexor.bot")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
DEFAULT_PATH = "/telegram/webhook"
# Update types the bot handles; Telegram drops the rest before sending.
# my_chat_member: a person blocked the bot, or the bot was removed from a (review) group.
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
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


def webhook_route(
    settings: Settings, *, application: Application | None, redis: aioredis.Redis | None
) -> web.RouteDef:
    """The POST route that checks the secret and queues the update.

    With Redis the update goes to the shared stream, so any process serves the route, the bot's
    or not (the other ``API_WORKERS``, a ``--no-bot`` replica); without, to ``application``.
    """
    if redis is None and application is None:
        raise ValueError("webhook ingress needs Redis or this process's Application")
    # Imported here: bot.update_queue imports this module (set_webhook).
    from bot.update_queue import UpdateStream

    secret = webhook_secret(settings).encode()
    stream = UpdateStream(redis, settings.redis_key_prefix) if redis is not None else None

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, secret):
            return web.Response(status=403, text="forbidden")
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return web.Response(status=413)
        body = await request.read()
        try:
            # Decoded here only to refuse what the bot could not decode; no Bot is needed.
            update = Update.de_json(json.loads(body), application.bot if application else None)
        except (ValueError, TypeError, KeyError):
            logger.warning("webhook: an undecodable update was ignored")
            return web.Response(status=400, text="bad update")
        if stream is None:
            assert application is not None
            await application.update_queue.put(update)
            return web.Response(text="ok")
        return await _enqueue(stream, update.update_id, body)

    return web.post(webhook_path(settings), receive)


async def _enqueue(stream, update_id: int, body: bytes) -> web.Response:
    try:
        if not await stream.append(update_id, body):
            logger.info("webhook: update %d was already received; ignored", update_id)
    except (RedisError, OSError) as exc:
        # Not stored, so not acknowledged: Telegram sends it again later.
        logger.warning("webhook: could not queue update %d: %s", update_id, exc)
        return web.Response(status=503, text="try again", headers={"Retry-After": "1"})
    return web.Response(text="ok")


async def set_webhook(application: Application, settings: Settings) -> None:
    """Tell Telegram where to send updates, with the secret and the update types."""
    await application.bot.set_webhook(
        url=settings.telegram_webhook_url or "",
        secret_token=webhook_secret(settings),
        allowed_updates=ALLOWED_UPDATES,
    )
