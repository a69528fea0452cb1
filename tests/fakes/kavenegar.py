"""A Kavenegar ``verify/lookup`` server on 127.0.0.1 for the real client to talk to.

``async with FakeKavenegar() as fake:`` then use ``fake.url`` as ``KAVENEGAR_BASE_URL``.
Knobs, set before a request: ``respond(return_status=…, http_status=…)`` for a JSON answer,
``respond_raw(body, http_status=…, headers=…)`` for anything else (non-JSON, HTML error
pages, redirects), and
``delay`` seconds before answering (to trigger client timeouts). Each request is recorded in
``requests`` as ``KavenegarRequest(api_key, method, form)``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from aiohttp import web

from tests.fakes.server import LoopbackServer


@dataclass(frozen=True)
class KavenegarRequest:
    """One request as the fake saw it."""

    api_key: str
    method: str
    form: dict[str, str]


class FakeKavenegar(LoopbackServer):
    """A real aiohttp server answering like Kavenegar's REST API."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[KavenegarRequest] = []
        self.delay = 0.0
        self._http_status = 200
        self._body = _answer(200, "تایید شد")
        self._content_type = "application/json"
        self._headers: dict[str, str] = {}

    def respond(self, *, return_status: int, http_status: int | None = None) -> None:
        """Answer with Kavenegar's JSON envelope; HTTP status defaults to Kavenegar's habit."""
        self._http_status = http_status if http_status is not None else _http_for(return_status)
        self._body = _answer(return_status, "fake")
        self._content_type = "application/json"
        self._headers = {}

    def respond_raw(
        self,
        body: str,
        *,
        http_status: int = 200,
        content_type: str = "text/html",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer with an arbitrary body, e.g. a proxy's HTML error page or a redirect."""
        self._http_status = http_status
        self._body = body
        self._content_type = content_type
        self._headers = headers or {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/{api_key}/{service}/{action}.json", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        info = request.match_info
        self.requests.append(
            KavenegarRequest(
                api_key=info["api_key"],
                method=f"{info['service']}/{info['action']}",
                form={key: str(value) for key, value in form.items()},
            )
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(
            status=self._http_status,
            text=self._body,
            content_type=self._content_type,
            headers=self._headers,
        )


def _answer(return_status: int, message: str) -> str:
    entries = []
    if return_status == 200:
        entries = [{"messageid": 8792343, "status": 5, "statustext": "ارسال به مخابرات"}]
    payload = {"return": {"status": return_status, "message": message}, "entries": entries}
    return json.dumps(payload, ensure_ascii=False)


def _http_for(return_status: int) -> int:
    # Kavenegar mirrors its return.status as the HTTP status for most errors.
    return return_status if 100 <= return_status <= 599 else 400
