"""Drive the playground page's own HTTP endpoints, as its JavaScript does.

``PagePerson(session, base_url, telegram_id)``: ``send(text)``, ``share_contact()``,
``press(text)`` (the newest bot message offering that button), ``download(file_id)``; and
``until(predicate, what)``, which follows the page's server-sent events until a snapshot of the
chat satisfies ``predicate`` (bounded, so a test cannot hang).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

Snapshot = dict[str, Any]
WAIT_SECONDS = 30.0


def bot_texts(snapshot: Snapshot) -> list[str]:
    return [m["text"] or "" for m in snapshot["messages"] if m["from_bot"]]


def last_bot_text(snapshot: Snapshot) -> str:
    texts = bot_texts(snapshot)
    return texts[-1] if texts else ""


def buttons_of(snapshot: Snapshot) -> list[str]:
    """The inline button texts of the newest bot message that has any."""
    for message in reversed(snapshot["messages"]):
        if message["from_bot"] and message["buttons"]:
            return [button["text"] for row in message["buttons"] for button in row]
    return []


class PagePerson:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, telegram_id: int) -> None:
        self.session = session
        self.base = f"{base_url}/playground/api"
        self.id = telegram_id
        self.last: Snapshot | None = None

    async def chat(self) -> Snapshot:
        async with self.session.get(f"{self.base}/chat", params={"user": self.id}) as response:
            assert response.status == 200, await response.text()
            self.last = await response.json()
            return self.last

    async def _post(self, path: str, **body: Any) -> None:
        async with self.session.post(f"{self.base}/{path}", json={"user": self.id, **body}) as r:
            assert r.status == 200, await r.text()

    async def send(self, text: str) -> None:
        await self._post("send", text=text)

    async def share_contact(self) -> None:
        await self._post("contact")

    async def press(self, text: str) -> None:
        """Press the button ``text`` of the newest bot message offering it."""
        snapshot = await self.chat()
        for message in reversed(snapshot["messages"]):
            for button in (b for row in message["buttons"] for b in row):
                if button["text"] == text:
                    await self._post("press", message_id=message["id"], data=button["data"])
                    return
        raise AssertionError(f"no button {text!r}; the chat offers {buttons_of(snapshot)}")

    async def download(self, file_id: str) -> tuple[str, bytes]:
        async with self.session.get(f"{self.base}/files/{file_id}") as response:
            assert response.status == 200
            return response.headers["Content-Disposition"], await response.read()

    async def until(self, predicate: Callable[[Snapshot], bool], what: str) -> Snapshot:
        """The first snapshot the page is pushed that satisfies ``predicate``."""
        params = {"user": self.id}
        try:
            async with (
                asyncio.timeout(WAIT_SECONDS),
                self.session.get(f"{self.base}/events", params=params) as response,
            ):
                assert response.headers["Content-Type"].startswith("text/event-stream")
                async for line in response.content:
                    if line.startswith(b"data: "):
                        self.last = json.loads(line[len(b"data: ") :])
                        if predicate(self.last):
                            return self.last
        except TimeoutError:
            pass
        raise AssertionError(f"{what} not seen; the chat showed last: {self.last!r}")
