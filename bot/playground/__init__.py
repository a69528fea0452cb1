"""The playground: the bot on the local Bot API, and a web chat to talk to it (development).

``contexor run`` in development without ``TELEGRAM_BOT_TOKEN`` (``Settings.runs_playground``)
mounts, on the REST sidecar, the local Bot API (``bot/local_api``) under ``/local-bot-api`` and
the page under ``/playground`` (``bot/playground/routes.py``), then starts the real bot against
the local Bot API with its fixed token. The demo organisation (``core/demo.py``) is seeded at
each start (idempotently); each demo person is a Telegram user of the local Bot API and links
on the page the way a real person does. The SMS code shows on the page only with the console
SMS backend (which keeps the newest codes outside production).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from bot.local_api import FloodLimits, LocalBotApi, StoredMessage
from core.container import Services
from core.demo import DEMO_PEOPLE, DemoPerson, seed_demo
from core.settings import Settings
from core.sms.console import ConsoleSmsSender

logger = logging.getLogger("contexor")

LOCAL_API_PREFIX = "/local-bot-api"
PAGE_PATH = "/playground"
BOT_USERNAME = "contexor_playground_bot"


class Playground:
    """The local Bot API, the demo people and what the page shows each of them."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.api = LocalBotApi(
            bot_username=BOT_USERNAME,
            bot_first_name="Contexor",
            flood_limits=FloodLimits() if services.settings.playground_flood_limits else None,
        )
        self.people: dict[int, DemoPerson] = {p.telegram_id: p for p in DEMO_PEOPLE}
        self.closing = False
        self._presses: dict[str, int] = {}  # callback query id -> who pressed
        for person in DEMO_PEOPLE:
            self.api.add_user(
                person.telegram_id,
                first_name=person.name,
                language_code=services.settings.default_language,
                started=False,
            )

    # -- wiring ------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """The local Bot API's and the page's routes, for the sidecar (before it freezes)."""
        from bot.playground.routes import page_routes

        return [*self.api.routes(LOCAL_API_PREFIX), *page_routes(self)]

    def bot_settings(self, server_url: str) -> Settings:
        """The settings with the bot pointed at the local Bot API served at ``server_url``."""
        self.api.serve_at(server_url + LOCAL_API_PREFIX)
        return self.services.settings.model_copy(
            update={
                "telegram_bot_token": SecretStr(self.api.token),
                "telegram_api_base_url": self.api.url,
            }
        )

    async def seed(self) -> None:
        seeded = await seed_demo(self.services.clock, principals=self.services.principals)
        if seeded.created:
            logger.info("playground: seeded the demo organisation and its admin, editor, writer")

    def close(self) -> None:
        """End the page's live streams and the bot's held polls (before the server stops)."""
        self.closing = True
        self.api.close()

    # -- acting as a demo person -------------------------------------------------------------

    def person(self, telegram_id: Any) -> DemoPerson | None:
        try:
            return self.people.get(int(telegram_id))
        except (TypeError, ValueError):
            return None

    def send_text(self, person: DemoPerson, text: str) -> None:
        self.api.user_sends_text(
            person.telegram_id, text, language_code=self.services.settings.default_language
        )

    def share_contact(self, person: DemoPerson) -> None:
        self.api.user_shares_contact(person.telegram_id, person.phone)

    def press(self, person: DemoPerson, message_id: int, data: str) -> None:
        """Press an inline button the message offers (``ValueError`` for any other data)."""
        query_id = self.api.user_presses(person.telegram_id, message_id, data)
        self._presses[query_id] = person.telegram_id

    # -- what the page shows -----------------------------------------------------------------

    def sms_code(self, person: DemoPerson) -> str | None:
        """The newest code the console SMS backend 'sent' to the person's phone."""
        sms = self.services.sms
        if not isinstance(sms, ConsoleSmsSender):
            return None
        codes = [message.code for message in sms.recent if message.phone == person.phone]
        return codes[-1] if codes else None

    def snapshot(self, person: DemoPerson) -> dict[str, Any]:
        """The person's chat as the page draws it: messages, draft, keyboards, SMS code."""
        chat_id = person.telegram_id
        answers = [
            {"id": query_id, "text": answer.get("text"), "alert": bool(answer.get("show_alert"))}
            for query_id, answer in self.api.callback_answers.items()
            if self._presses.get(query_id) == chat_id and answer.get("text")
        ]
        return {
            "messages": [_message_json(message) for message in self.api.messages(chat_id)],
            "draft": self.api.draft(chat_id),
            "reply_keyboard": self.api.reply_keyboard(chat_id),
            "sms_code": self.sms_code(person),
            "toast": answers[-1] if answers else None,
        }

    def directory(self) -> dict[str, Any]:
        """The demo people, for the switcher."""
        return {
            "bot": BOT_USERNAME,
            "console_sms": isinstance(self.services.sms, ConsoleSmsSender),
            "people": [
                {
                    "id": person.telegram_id,
                    "name": person.name,
                    "role": person.role.value,
                    "phone": person.phone,
                }
                for person in DEMO_PEOPLE
            ],
        }


def _message_json(message: StoredMessage) -> dict[str, Any]:
    document = message.document
    return {
        "id": message.message_id,
        "from_bot": message.from_bot,
        "text": message.text if message.text is not None else message.caption,
        "html": str(message.parse_mode or "").lower() == "html",
        "edited": message.edit_date is not None,
        "contact": (message.contact or {}).get("phone_number"),
        "document": (
            None
            if document is None
            else {"file_id": document["file_id"], "name": document.get("file_name") or "file"}
        ),
        "buttons": [
            [
                {"text": button.text, "data": button.callback_data, "url": button.url}
                for button in row
            ]
            for row in message.inline_keyboard
        ],
    }
