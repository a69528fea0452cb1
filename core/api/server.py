"""Serving the sidecar: an ``AppRunner`` whose low-level errors also answer the JSON envelope.

aiohttp answers what its HTTP parser refuses (an unknown method, raw non-ASCII in the query, a
header over 8 KB …) before any middleware runs, with ``text/plain`` echoing the request line.
``ApiRunner`` swaps in a request handler that answers those with the same envelope as every
other error, logs them as one line, and names no server version.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from core.api.middlewares import SERVER_NAME, http_error_response

logger = logging.getLogger(__name__)


class EnvelopeRequestHandler(RequestHandler):
    """aiohttp's per-connection handler, with the envelope for parser and protocol errors."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # the answer has started: the connection is lost
            raise ConnectionError("response already started; cannot send the error")
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            logger.error("error handling a request", exc_info=exc)
        else:
            reason = type(exc).__name__ if exc is not None else HTTPStatus(status).phrase
            logger.info("refused a malformed request (%s %s)", status, reason)
        # The request's headers may be what failed to parse: the envelope is in English.
        response = http_error_response(status, "en")
        response.headers["Server"] = SERVER_NAME
        response.force_close()
        return response


class EnvelopeServer(Server):
    def __call__(self) -> RequestHandler:
        return EnvelopeRequestHandler(self, loop=self._loop, **self._kwargs)


class ApiRunner(web.AppRunner):
    """``web.AppRunner`` serving its app through ``EnvelopeServer``."""

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        kwargs: dict[str, Any] = dict(server._kwargs)
        return EnvelopeServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **kwargs,
        )
