"""PTB's requests to the Bot API over aiohttp instead of httpx: the same calls, less CPU.

Every answer of the bot is one or two Bot API calls, and with PTB's default ``HTTPXRequest``
they were the largest part of the bot's CPU time (``bench/bot.py``): httpcore's pool looks at
every pooled connection, with a ``poll`` on each idle socket, to place each request, and writes
the headers and the body separately. aiohttp, already the product's HTTP server, keeps idle
connections per host in a queue and parses responses in C.

:class:`AiohttpRequest` keeps ``HTTPXRequest``'s contract: the same timeouts and defaults
(``media_write_timeout`` for uploads), files as multipart, a timeout raised as ``TimedOut`` and
any other transport failure as ``NetworkError``. aiohttp has no write timeout of its own, so the
whole request is bounded by the sum of the four. Parameters go as a JSON body (the Bot API takes
JSON as well as forms), which spares percent-encoding every byte of a Persian text.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

DefaultValue = type(BaseRequest.DEFAULT_NONE)
_JSON = {"Content-Type": "application/json"}


class AiohttpRequest(BaseRequest):
    """A pool of ``connection_pool_size`` keep-alive connections to the Bot API."""

    __slots__ = ("_defaults", "_media_write_timeout", "_pool_size", "_proxies", "_session")

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._defaults = {
            "read": read_timeout,
            "write": write_timeout,
            "connect": connect_timeout,
            "pool": pool_timeout,
        }
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str], str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._defaults["read"]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # The session binds to the running loop, so it is made here, not in __init__.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
                skip_auto_headers=("Accept-Encoding",),
                # Not trust_env: aiohttp would then look the proxy (and ~/.netrc) up again in a
                # worker thread for every request; _proxy_for reads the environment once.
                trust_env=False,
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        timeout = self._timeout(
            read_timeout,
            self._media_write_timeout if files and _default(write_timeout) else write_timeout,
            connect_timeout,
            pool_timeout,
        )
        if files:
            body: Any = _multipart(request_data.json_parameters, files)  # type: ignore[union-attr]
            headers = None
        elif request_data is not None:
            body = json.dumps(request_data.parameters, ensure_ascii=False).encode()
            headers = _JSON
        else:
            body, headers = None, None
        try:
            async with session.request(  # no redirect followed, as with httpx
                method,
                url,
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                proxy=self._proxy_for(url),
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc

    def _proxy_for(self, url: str) -> str | None:
        """HTTP(S)_PROXY and NO_PROXY from the environment, as httpx honoured them: read once
        per scheme and host (the Bot API is one), since the environment does not change."""
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        if origin not in self._proxies:
            host = parts.hostname or ""
            bypass = urllib.request.proxy_bypass_environment(host)
            proxies = urllib.request.getproxies_environment()
            self._proxies[origin] = None if bypass else proxies.get(parts.scheme)
        return self._proxies[origin]

    def _timeout(self, read: Any, write: Any, connect: Any, pool: Any) -> aiohttp.ClientTimeout:
        given = {"read": read, "write": write, "connect": connect, "pool": pool}
        seconds = {
            name: self._defaults[name] if _default(value) else value
            for name, value in given.items()
        }
        parts = list(seconds.values())
        waiting = (
            None
            if seconds["pool"] is None or seconds["connect"] is None
            else seconds["pool"] + seconds["connect"]
        )
        return aiohttp.ClientTimeout(
            # aiohttp bounds no write alone: the whole request gets the four together.
            total=None if None in parts else sum(parts),
            # waiting for a pooled connection, and opening one
            connect=waiting,
            sock_connect=seconds["connect"],
            sock_read=seconds["read"],
        )


def _default(value: object) -> bool:
    return isinstance(value, DefaultValue)


def _multipart(fields: dict[str, str], files: dict[str, Any]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in files.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
