"""Active/standby for the bot: only the holder of the bot lease takes Telegram updates.

``lead_updates`` is called once the Application has started (``bot/runtime.py``). Without Redis
(the embedded default) this one process leads at once. With Redis every replica runs a
``Leadership``: it tries the lease (``bot/lease.py``); the winner starts its consumer (long
polling, or the webhook stream of ``bot/update_queue.py``) and renews every third of
``BOT_LEASE_SECONDS``; the others wait for the lease's release (a published message, so a clean
shutdown hands over at once) or its expiry (a holder that died), then try again.

A holder stops its consumer as soon as a renewal finds the lease gone or the fence
(``bot/fence.py``) refuses a batch; a clean shutdown stops the consumer first and then releases
the lease, so two consumers never overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack
from typing import Protocol

from redis.exceptions import RedisError
from telegram.ext import Application

from bot.app import FENCE
from bot.lease import BotLease
from bot.turn import SERVICES
from bot.update_queue import StreamConsumer
from bot.webhook import ALLOWED_UPDATES, set_webhook
from core.cancellation import cancel_and_wait
from core.services.leases import THIS_INSTANCE

logger = logging.getLogger("contexor.bot")

# How long one getUpdates waits for news (Telegram holds the request up to this).
POLL_SECONDS = 10


class UpdateConsumer(Protocol):
    """What the leader runs: starts taking updates, stops (and may be started again)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class PollingConsumer:
    """Long polling through PTB's Updater (``getUpdates`` passes the fence)."""

    def __init__(self, application: Application) -> None:
        assert application.updater is not None
        self._updater = application.updater

    async def start(self) -> None:
        # start_polling calls deleteWebhook first; pending updates are kept for us.
        await self._updater.start_polling(
            timeout=POLL_SECONDS, allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False
        )
        logger.info("Telegram bot polling for updates")

    async def stop(self) -> None:
        if self._updater.running:
            await self._updater.stop()


class DirectWebhookConsumer:
    """Webhook without Redis: the route hands updates to this process's Application."""

    def __init__(self, application: Application) -> None:
        self._application = application

    async def start(self) -> None:
        settings = self._application.bot_data[SERVICES].settings
        await set_webhook(self._application, settings)
        logger.info("Telegram bot receiving updates by webhook")

    async def stop(self) -> None:
        """Nothing runs: the route stops with the sidecar."""


async def lead_updates(stack: AsyncExitStack, application: Application, *, webhook: bool) -> None:
    """Take updates now (no Redis), or whenever this process holds the bot lease."""
    services = application.bot_data[SERVICES]
    settings = services.settings
    consumer = _consumer(application, webhook=webhook, shared=services.redis is not None)
    if services.redis is None:
        await consumer.start()
        stack.push_async_callback(consumer.stop)
        return
    lease = BotLease(
        services.redis,
        prefix=settings.redis_key_prefix,
        instance=THIS_INSTANCE,
        seconds=settings.bot_lease_seconds,
    )
    leadership = Leadership(lease, consumer)
    application.bot_data[FENCE].bind(lease.holds, leadership.fenced)
    await leadership.start()
    stack.push_async_callback(leadership.stop)


def _consumer(application: Application, *, webhook: bool, shared: bool) -> UpdateConsumer:
    if not webhook:
        return PollingConsumer(application)
    if not shared:
        return DirectWebhookConsumer(application)
    return StreamConsumer(application)


class Leadership:
    """Stand by, lead, renew, stand down; see the module notes."""

    def __init__(self, lease: BotLease, consumer: UpdateConsumer) -> None:
        self._lease = lease
        self._consumer = consumer
        self._task: asyncio.Task | None = None
        self._lost = asyncio.Event()
        self._stopping = False
        self.leading = False

    def fenced(self) -> None:
        """The fence refused a batch: stop leading now, not at the next renewal."""
        self._lost.set()

    async def start(self) -> None:
        """Try once now (a free lease is taken before this returns), then keep trying."""
        try:
            await self._try_to_lead()
        except (RedisError, OSError) as exc:
            logger.warning("bot lease: Redis is unreachable (%s); standing by", exc)
        self._task = asyncio.create_task(self._run(), name="bot-leadership")

    async def stop(self) -> None:
        """Clean shutdown: stop taking updates, then hand the lease over at once.

        One ``cancel()`` is not trusted to end the loop: a cancellation that lands as a renewal's
        timeout expires, or inside a Redis call that swallows it, left the loop waiting for the
        next renewal forever (a shutdown that hung). The loop also checks ``_stopping`` at every
        turn, and the task is cancelled again until it has ended (``core/cancellation.py``).
        """
        self._stopping = True
        if self._task is not None:
            failure = await cancel_and_wait(self._task)
            if failure is not None:
                logger.error("the bot lease loop failed", exc_info=failure)
        if not self.leading:
            return
        await self._consumer.stop()
        self.leading = False
        try:
            await self._lease.release()
            logger.info("bot lease released")
        except (RedisError, OSError) as exc:
            logger.warning("could not release the bot lease (%s); it expires by itself", exc)

    async def _run(self) -> None:
        pubsub = None
        try:
            while not self._stopping:
                if self.leading:
                    await self._hold()
                    if self._stopping:
                        break  # stop() stops the consumer and releases the lease
                    await self._stand_down()
                    continue
                try:
                    pubsub = pubsub or await self._lease.subscribe()
                    await self._lease.wait_turn(pubsub)
                    await self._try_to_lead()
                except (RedisError, OSError) as exc:
                    logger.warning("bot lease: Redis is unreachable (%s); retrying", exc)
                    if pubsub is not None:
                        with contextlib.suppress(RedisError, OSError):
                            await pubsub.aclose()
                    pubsub = None
                    await asyncio.sleep(min(1.0, self._lease.seconds))
        finally:
            if pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()

    async def _try_to_lead(self) -> None:
        token = await self._lease.acquire()
        if token is None:
            return
        self._lost.clear()
        self.leading = True
        logger.info("instance %s leads the bot (lease token %d)", self._lease.instance, token)
        try:
            await self._consumer.start()
        except Exception:
            logger.exception("could not start taking updates; giving the bot lease up")
            self.leading = False
            with contextlib.suppress(Exception):
                await self._consumer.stop()
            with contextlib.suppress(RedisError, OSError):
                await self._lease.release()
            await asyncio.sleep(self._lease.seconds)  # let a healthier replica try first

    async def _hold(self) -> None:
        """Renew every third of the lease; return once the lease is lost."""
        interval = self._lease.seconds / 3
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._lost.wait()
                return
            try:
                if not await self._lease.renew():
                    return
            except (RedisError, OSError) as exc:
                if not self._lease.held:
                    return
                logger.warning("could not renew the bot lease (%s); retrying", exc)

    async def _stand_down(self) -> None:
        if self.leading:
            logger.warning("this instance lost the bot lease; it stops taking updates")
        self.leading = False
        try:
            await self._consumer.stop()
        except Exception:
            logger.exception("stopping the update consumer failed")
        # Fenced by our own deadline while Redis may still hold our value (a slow loop, not a
        # takeover): give it up now that nothing is consumed, rather than let it expire.
        with contextlib.suppress(RedisError, OSError):
            await self._lease.release()
