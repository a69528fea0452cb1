"""The playground page's HTTP endpoints (everything under ``/playground``).

- ``GET /playground``: the page (``static/index.html``); ``GET /playground/static/<file>``.
- ``GET /playground/api/people``: the demo people for the switcher.
- ``GET /playground/api/chat?user=<id>``: one person's chat now (``Playground.snapshot``).
- ``GET /playground/api/events?user=<id>``: the same, pushed as server-sent events at each
  change (a comment line every 15 s keeps proxies from closing it).
- ``POST /playground/api/send`` ``{"user", "text"}``, ``/contact`` ``{"user"}``,
  ``/press`` ``{"user", "message_id", "data"}``: act as the person (a Telegram update).
- ``GET /playground/api/files/<file_id>``: a document the bot sent, as a download.

Bad input answers 400 with ``{"error": "..."}``; nothing here touches the database: every
action is an update the real bot handles.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.local_api import MAX_TEXT_LENGTH

if TYPE_CHECKING:
    from bot.playground import Playground
    from core.demo import DemoPerson

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
KEEPALIVE_SECONDS = 15.0
STATIC_TYPES = {
    "index.html": "text/html",
    "playground.js": "text/javascript",
    "playground.css": "text/css",
}


def page_routes(playground: Playground) -> list[web.RouteDef]:
    from bot.playground import PAGE_PATH

    static = files("bot.playground") / "static"

    async def page(_: web.Request) -> web.Response:
        return _static_file(static, "index.html")

    async def asset(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC_TYPES:
            raise web.HTTPNotFound()
        return _static_file(static, name)

    async def people(_: web.Request) -> web.Response:
        return web.json_response(playground.directory())

    async def chat(request: web.Request) -> web.Response:
        person = _person_of(playground, request.query.get("user"))
        return web.json_response(playground.snapshot(person))

    async def events(request: web.Request) -> web.StreamResponse:
        person = _person_of(playground, request.query.get("user"))
        return await _stream(request, playground, person)

    async def send(request: web.Request) -> web.Response:
        body = await _body(request)
        person = _person_of(playground, body.get("user"))
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_LENGTH:
            raise _bad(f"text must be 1-{MAX_TEXT_LENGTH} characters")
        playground.send_text(person, text)
        return web.json_response({"ok": True})

    async def contact(request: web.Request) -> web.Response:
        person = _person_of(playground, (await _body(request)).get("user"))
        playground.share_contact(person)
        return web.json_response({"ok": True})

    async def press(request: web.Request) -> web.Response:
        body = await _body(request)
        person = _person_of(playground, body.get("user"))
        message_id, data = body.get("message_id"), body.get("data")
        if not isinstance(message_id, int) or not isinstance(data, str):
            raise _bad("message_id (a number) and data (a string) are required")
        try:
            playground.press(person, message_id, data)
        except (KeyError, ValueError):
            raise _bad("that message does not offer that button") from None
        return web.json_response({"ok": True})

    async def download(request: web.Request) -> web.Response:
        uploaded = playground.api.file(request.match_info["file_id"])
        if uploaded is None:
            raise web.HTTPNotFound()
        name = (uploaded.filename or "file").replace('"', "")
        return web.Response(
            body=uploaded.data,
            content_type=uploaded.content_type,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    root = PAGE_PATH
    return [
        web.get(root, page),
        web.get(root + "/", page),
        web.get(root + "/static/{name}", asset),
        web.get(root + "/api/people", people),
        web.get(root + "/api/chat", _refusing(chat)),
        web.get(root + "/api/events", _refusing(events)),
        web.post(root + "/api/send", _refusing(send)),
        web.post(root + "/api/contact", _refusing(contact)),
        web.post(root + "/api/press", _refusing(press)),
        web.get(root + "/api/files/{file_id}", download),
    ]


async def _stream(
    request: web.Request, playground: Playground, person: DemoPerson
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    # The page going away (closed, reloaded, switched person) ends the stream: nothing wrong.
    with contextlib.suppress(ConnectionError):
        await _push_changes(response, playground, person)
    return response


async def _push_changes(
    response: web.StreamResponse, playground: Playground, person: DemoPerson
) -> None:
    last = ""
    while not playground.closing:
        current = json.dumps(playground.snapshot(person), ensure_ascii=False)
        if current != last:
            await response.write(f"data: {current}\n\n".encode())
            last = current
        try:
            async with asyncio.timeout(KEEPALIVE_SECONDS):
                await playground.api.changed()
        except TimeoutError:
            await response.write(b": keepalive\n\n")


def _static_file(static: Any, name: str) -> web.Response:
    body = (static / name).read_bytes()
    return web.Response(
        body=body,
        content_type=STATIC_TYPES[name],
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _bad("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object")
    return body


def _person_of(playground: Playground, raw: Any) -> DemoPerson:
    person = playground.person(raw)
    if person is None:
        raise _bad("user must be the id of a demo person")
    return person


class _Refused(Exception):
    """Bad input from the page: answered 400 with the reason (not the API's envelope)."""


def _bad(reason: str) -> _Refused:
    return _Refused(reason)


def _refusing(handler: Handler) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except _Refused as refused:
            return web.json_response({"error": str(refused)}, status=400)

    return handle
