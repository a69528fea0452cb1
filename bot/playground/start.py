"""Starting the playground inside ``contexor run`` (``bot/runtime.py`` calls these two)."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

from telegram.ext import Application

from bot.app import build_application
from bot.playground import PAGE_PATH, Playground
from core.container import Services

logger = logging.getLogger("contexor")


def playground_for(services: Services, *, bot: bool, api: bool) -> Playground | None:
    """The playground when this run serves it: the bot is on, and it is development without a
    real token (``Settings.runs_playground``); it lives on the sidecar, so it needs the API."""
    if not bot or not services.settings.runs_playground:
        return None
    if not api:
        logger.warning("the playground needs the REST sidecar (drop --no-api); bot not started")
        return None
    return Playground(services)


async def start_playground(stack: AsyncExitStack, playground: Playground, port: int) -> Application:
    """Seed the demo organisation and build the bot on the local Bot API served on ``port``.

    The caller starts the bot (``start_bot``), so it stops before ``playground.close`` ends the
    page's streams, which runs before the sidecar stops.
    """
    stack.callback(playground.close)
    await playground.seed()
    settings = playground.services.settings
    host = _reachable(settings.api_host)
    bot_settings = playground.bot_settings(f"http://{host}:{port}")
    application = build_application(playground.services, bot_settings, webhook=False)
    logger.info("playground: open http://%s:%s%s to chat with the bot", host, port, PAGE_PATH)
    return application


def _reachable(host: str) -> str:
    # A wildcard bind is reached on loopback; IPv6 literals need brackets in a URL.
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (compared, not bound)
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
