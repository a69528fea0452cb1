"""The one place where the process's services are built from the settings, and closed.

``Services`` is passed explicitly: to the aiohttp app (``SERVICES_KEY``), to the bot (its
context) and to scheduler jobs. Nothing in ``core`` reaches for a module-level client.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from core.clock import Clock
from core.llm.base import LlmClient
from core.llm.factory import build_llm_client
from core.notify import Notifier, NullNotifier
from core.settings import Settings
from core.sms.base import SmsSender
from core.sms.factory import build_sms_sender


@dataclass
class Services:
    """Infrastructure first, then the domain services that use it."""

    settings: Settings
    clock: Clock
    redis: aioredis.Redis | None
    sms: SmsSender
    llm: LlmClient
    notifier: Notifier
    # Domain services (one line each; keep this list in the order of DESIGN §2):

    async def aclose(self) -> None:
        """Close every client this container opened, newest first."""
        await self.llm.aclose()
        await self.sms.aclose()
        if self.redis is not None:
            await self.redis.aclose()


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    sms: SmsSender | None = None,
    llm: LlmClient | None = None,
    notifier: Notifier | None = None,
) -> Services:
    """Everything the adapters need; tests pass their own clock or clients."""
    clock = clock or Clock()
    redis = aioredis.from_url(settings.redis_url) if settings.redis_url else None
    return Services(
        settings=settings,
        clock=clock,
        redis=redis,
        sms=sms or build_sms_sender(settings, clock=clock),
        llm=llm or build_llm_client(settings),
        notifier=notifier or NullNotifier(),
    )
