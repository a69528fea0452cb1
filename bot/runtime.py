"""The composition root: one asyncio task opens the database, then starts every part.

Order matters (see db/__init__.py): the ORM is initialised in this task before the aiohttp
runner, the bot and the scheduler exist, so everything they spawn sees it. Shutdown runs in
reverse on SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from aiohttp import web

import db
from core.api.app import create_app
from core.container import Services, build_services
from core.settings import Settings

logger = logging.getLogger("contexor")


async def run_product(settings: Settings, *, bot: bool, api: bool, scheduler: bool) -> None:
    """Run the selected parts until SIGINT/SIGTERM, then stop them cleanly."""
    stop = _stop_event()
    async with AsyncExitStack() as stack:
        await _open_database(settings)
        stack.push_async_callback(db.close)
        services = build_services(settings)
        stack.push_async_callback(services.aclose)
        if api:
            await _start_api(stack, services)
        if scheduler:
            _start_scheduler(stack, services)
        if bot:
            # The Telegram bot is built by its own issue; this build runs without it.
            logger.warning("the Telegram bot is not part of this build yet; running without it")
        logger.info("contexor is running; press Ctrl+C to stop")
        await stop.wait()
        logger.info("stopping")


async def _open_database(settings: Settings) -> None:
    if settings.uses_sqlite or settings.auto_migrate:
        await db.migrate(settings.database_url)
        await db.close()
    await db.init(settings.database_url)


async def _start_api(stack: AsyncExitStack, services: Services) -> None:
    settings = services.settings
    runner = web.AppRunner(create_app(services), access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, settings.api_host, settings.api_port)
    await site.start()
    logger.info("API listening on http://%s:%s", settings.api_host, site.port)


def _start_scheduler(stack: AsyncExitStack, services: Services) -> None:
    from scheduler.setup import build_scheduler

    scheduler = build_scheduler(services)
    scheduler.start()
    stack.callback(scheduler.shutdown, wait=False)
    logger.info("scheduler started with %d jobs", len(scheduler.get_jobs()))


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
