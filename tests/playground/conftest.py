"""The playground as ``contexor run`` serves it: the sidecar with the local Bot API and the
page mounted, the demo organisation seeded, the real bot polling the local Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest
from aiohttp import web
from redis.asyncio import Redis

from bot.playground import Playground
from bot.playground.start import playground_for, start_playground
from bot.runtime import start_bot
from core.api.app import create_app
from core.api.server import ApiRunner
from core.clock import FrozenClock
from core.container import build_services
from core.settings import Settings, SmsBackend


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # see tests/bot/conftest.py


@dataclass
class RunningPlayground:
    url: str
    playground: Playground


@pytest.fixture
async def playground(
    settings: Settings, clock: FrozenClock, db: str, fresh_keys: Redis | None
) -> AsyncIterator[RunningPlayground]:
    """Development settings without a token and with the console SMS backend, as on a fresh
    machine; everything started the way ``bot/runtime.py`` does."""
    fresh = settings.model_copy(update={"sms_backend": SmsBackend.CONSOLE})
    assert fresh.runs_playground
    async with AsyncExitStack() as stack:
        services = build_services(fresh, clock=clock)
        stack.push_async_callback(services.aclose)
        found = playground_for(services, bot=True, api=True)
        assert found is not None
        runner = ApiRunner(create_app(services, extra_routes=found.routes()), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        application = await start_playground(stack, found, site.port)
        await start_bot(stack, application, webhook=False)
        yield RunningPlayground(f"http://127.0.0.1:{site.port}", found)
