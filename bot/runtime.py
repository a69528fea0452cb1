"""The composition root: one asyncio task opens the database, then starts every part.

Order matters (see db/__init__.py): the ORM is initialised in this task before the aiohttp
runner, the bot and the scheduler exist, so everything they spawn sees it. Shutdown runs in
reverse on SIGINT or SIGTERM.

The Telegram bot runs in this same loop: ``initialize``, ``start`` (and the notification
delivery worker, stopped before the bot), then either
``updater.start_polling`` (which calls ``deleteWebhook`` first) or ``setWebhook`` with the route
already on the sidecar, once this process leads (``bot/leadership.py``: with Redis, replicas
share the bot through a lease). ``Application.run_polling`` is never used: it takes over the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from contextlib import AsyncExitStack

from aiohttp import web
from telegram.error import TelegramError
from telegram.ext import Application
from tortoise import connections

import db
from bot import heap
from bot.app import bot_commands, build_application
from bot.command_menus import menu_actions
from bot.delivery import DeliveryWorker
from bot.leadership import lead_updates
from bot.playground.start import playground_for, start_playground
from bot.startup import database_label
from bot.webhook import webhook_route
from core.api.app import create_app
from core.api.server import ApiRunner
from core.container import Services, build_services
from core.outages import DATABASE, unavailable_dependency
from core.services.leases import THIS_INSTANCE
from core.settings import Settings

logger = logging.getLogger("contexor")


async def run_product(
    settings: Settings, *, bot: bool, api: bool, scheduler: bool, reuse_port: bool = False
) -> None:
    """Run the selected parts until SIGINT/SIGTERM, then stop them cleanly.

    ``reuse_port``: bind the API with ``SO_REUSEPORT``, beside other workers (bot/workers.py).
    """
    stop = _stop_event()
    async with AsyncExitStack() as stack:
        if not await _open_database(settings, stop):
            logger.info("stopped while waiting for the database")
            return
        stack.push_async_callback(db.close)
        services = build_services(settings, instance_id=THIS_INSTANCE)
        stack.push_async_callback(services.aclose)
        parts = [name for name, on in (("bot", bot), ("api", api), ("scheduler", scheduler)) if on]
        services.leases.describe(parts)
        await services.leases.hold()  # the generation service releases it as it closes
        await _recover_generations(services)
        playground = playground_for(services, bot=bot, api=api)
        application = _build_bot(services) if bot and playground is None else None
        webhook = application is not None and bool(settings.telegram_webhook_url)
        if webhook and not api:
            logger.error("webhook mode needs the REST sidecar (drop --no-api); bot not started")
            application = None
        if api:
            routes = _webhook_ingress(services, application, playground is not None)
            routes += playground.routes() if playground else []
            port = await _start_api(stack, services, routes, reuse_port=reuse_port)
            if playground is not None:
                application = await start_playground(stack, playground, port)
        if scheduler:
            _start_scheduler(stack, services)
        if application is not None:
            await start_bot(stack, application, webhook=webhook)
        heap.settle()
        logger.info("contexor is running; press Ctrl+C to stop")
        await stop.wait()
        logger.info("stopping")
        await _wind_down_generations(services)


class DatabaseUnreachable(RuntimeError):
    """The database never answered within ``DATABASE_WAIT_SECONDS`` at start-up."""


async def _open_database(settings: Settings, stop: asyncio.Event) -> bool:
    """Migrate (SQLite or ``AUTO_MIGRATE``) and open the pool, waiting for the database.

    While it is unreachable (not started yet, restarting) each try is logged on one line and
    repeated with a doubling backoff (1 s, at most 5 s apart) for ``DATABASE_WAIT_SECONDS``;
    then ``DatabaseUnreachable``, which the CLI turns into one line and exit status 1. Any
    other failure (bad credentials, a broken migration) is not waited out. SIGTERM or SIGINT
    (``stop``) ends the wait at once: False, nothing was started.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.database_wait_seconds
    delay, attempt = 1.0, 0
    while True:
        attempt += 1
        try:
            await _connect_database(settings)
            return True
        except Exception as exc:
            await db.close()
            if unavailable_dependency(exc) != DATABASE:
                raise
            reason = f"{type(exc).__name__}: {str(exc)[:200]}"
            if loop.time() + delay > deadline:
                raise DatabaseUnreachable(
                    f"database unreachable after {settings.database_wait_seconds:g} s:"
                    f" {database_label(settings)} ({reason})"
                ) from exc
            logger.warning(
                "database unreachable (try %d: %s); trying again in %g s", attempt, reason, delay
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
            return False
        delay = min(delay * 2, 5.0)


async def _connect_database(settings: Settings) -> None:
    if settings.uses_sqlite or settings.auto_migrate:
        await db.migrate(settings.database_url)
        await db.close()
    await db.init(settings.database_url, pool_size=settings.database_pool_size)
    # The pool connects lazily: prove the database answers before anything is started.
    await connections.get("default").execute_query("SELECT 1")


async def _recover_generations(services: Services) -> None:
    """Reap the generation jobs a dead process left (kill -9, out of memory) before serving."""
    try:
        reaped = await services.generation.recover()
    except Exception as exc:  # the scheduler's reaper tries again
        logger.warning("could not reap dead processes' generation jobs: %s", exc)
        return
    if reaped:
        logger.warning("reaped %d generation jobs of dead processes", reaped)


async def _wind_down_generations(services: Services) -> None:
    """Refuse new generations, give running ones SHUTDOWN_GRACE_SECONDS, keep the rest's text.

    Runs before anything is stopped, so the API still answers (a client polling its job sees
    it end) and the database is still open for the jobs to conclude.
    """
    grace = services.settings.shutdown_grace_seconds
    cancelled = await services.generation.wind_down(grace)
    if cancelled:
        logger.warning(
            "%d generations outlived the %s s grace; their text was kept", cancelled, grace
        )


def _webhook_ingress(
    services: Services, application: Application | None, playground: bool
) -> list[web.RouteDef]:
    """The webhook route, in webhook mode: in the bot's process, and with Redis in every API
    process (the update goes to the stream the bot's leader reads), so any of ``API_WORKERS``
    or a ``--no-bot`` replica can take Telegram's POST."""
    settings = services.settings
    if playground or not settings.telegram_webhook_url or settings.telegram_bot_token is None:
        return []
    if application is None and services.redis is None:
        return []
    return [webhook_route(settings, application=application, redis=services.redis)]


def _build_bot(services: Services) -> Application | None:
    if services.settings.telegram_bot_token is None:
        logger.warning("TELEGRAM_BOT_TOKEN is not set; running without the Telegram bot")
        return None
    return build_application(services, services.settings)


async def start_bot(stack: AsyncExitStack, application: Application, *, webhook: bool) -> None:
    """Start the bot in this loop; ``stack`` stops it in reverse (updater, app, shutdown)."""
    await application.initialize()
    stack.push_async_callback(application.shutdown)
    await application.start()
    stack.push_async_callback(application.stop)
    # Notifications: the outbox rows any process wrote go out from here (bot/delivery.py).
    # Pushed after application.stop, so it stops first: no send outlives the bot.
    services = application.bot_data["services"]
    actions = menu_actions(application.bot, application.bot_data["registry"], services)
    worker = DeliveryWorker(application.bot, services, actions)
    worker.start()
    stack.push_async_callback(worker.stop)
    # Polling or the webhook's updates, by this process alone or by the holder of the bot lease
    # among replicas (bot/leadership.py, docs/scaling.md).
    await lead_updates(stack, application, webhook=webhook)
    await _publish_commands(application)


async def _publish_commands(application: Application) -> None:
    """The / menu in each language (best effort: the bot works without it)."""
    registry = application.bot_data["registry"]
    try:
        for language_code, language in (("", "fa"), ("en", "en"), ("fa", "fa")):
            await application.bot.set_my_commands(
                bot_commands(registry, language), language_code=language_code or None
            )
    except TelegramError as exc:
        logger.warning("could not publish the command menu: %s", exc)


async def _start_api(
    stack: AsyncExitStack,
    services: Services,
    routes: list[web.RouteDef],
    *,
    reuse_port: bool = False,
) -> int:
    settings = services.settings
    runner = ApiRunner(create_app(services, extra_routes=routes), access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, settings.api_host, settings.api_port, reuse_port=reuse_port)
    await site.start()
    logger.info("API listening on http://%s:%s", settings.api_host, site.port)
    return site.port


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
