"""The loopback HTTP server every fake is built on: a real aiohttp server on a free port."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from aiohttp import web


class LoopbackServer(ABC):
    """Serves the routes ``add_routes`` declares on 127.0.0.1; use it with ``async with``."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` once started."""
        return f"http://127.0.0.1:{self._port}"

    @abstractmethod
    def add_routes(self, app: web.Application) -> None:
        """Subclasses register their handlers here."""

    async def __aenter__(self) -> Self:
        app = web.Application()
        self.add_routes(app)
        # access_log=None: some fakes carry secrets in the path (Kavenegar's key) and the test
        # logs are asserted on. handler_cancellation: a client that gives up (timeout) cancels
        # a delayed handler, so shutdown does not wait for it.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = site.port
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
