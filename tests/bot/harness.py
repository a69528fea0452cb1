"""Drive the real bot as Telegram users would, and read what they see.

``harness`` (see ``tests/bot/conftest.py``) is a ``BotHarness``: the product's services on the
test database, a real PTB ``Application`` built by ``bot.app.build_application`` and started by
``bot.runtime.start_bot`` (long polling over HTTP), and ``tests/fakes/bot_api.py`` as Telegram.

Acting (each waits until the bot has handled the update, handlers and error handler included):

- ``harness.user(id=None, language="fa")`` -> ``Person``: a Telegram user, not linked.
- ``await harness.linked_user(role=Role.WRITER, org=None, language="fa")`` -> ``Person`` whose
  account is linked to a user who is a member of ``org`` (default ``harness.org``, made on first
  use with a workspace ``harness.workspace`` and project ``harness.project``). ``role=None``:
  linked but in no organisation.
- ``await person.send(text)``, ``await person.share_contact(phone, own=True)``,
  ``await person.press(button_text)`` (the newest bot message offering that button),
  ``await person.press_data(data, forged=False)`` (the newest bot message with an inline
  keyboard; ``forged=True`` sends data the message does not offer).
- ``await harness.restart()``: stop the Application and start a new one (new services too) on
  the same database, as after a crash or a deploy.

Reading (what the person sees now, edits applied):

- ``person.last_text``, ``person.texts`` (the bot's messages, oldest first),
  ``person.buttons`` (inline button texts of the newest bot message),
  ``person.reply_keyboard`` (button texts of the newest reply keyboard),
  ``person.last_message`` (the fake's ``StoredMessage``), ``person.toasts`` (callback answers).
- ``harness.t(key, language="fa", **params)``: the catalog text, digits as the bot shows them.
- ``harness.sms_code(phone)``: the newest code the SMS outbox holds for an E.164 phone.
"""

from __future__ import annotations

import asyncio
import itertools
from contextlib import AsyncExitStack
from typing import Any

from telegram.ext import Application

from bot.app import build_application
from bot.runtime import start_bot
from bot.texts import t
from core.clock import FrozenClock
from core.container import Services, build_services
from core.settings import Settings
from db.models import Organization, Project, Role, TelegramLink, User, Workspace
from tests.fakes.bot_api import FakeBotApi, StoredMessage
from tests.support.factories import (
    add_member,
    make_org,
    make_project,
    make_user,
    make_workspace,
)
from tests.support.sms import last_code

_telegram_ids = itertools.count(100_001)
HANDLED_TIMEOUT = 10.0


class Person:
    """One Telegram user talking to the bot in their private chat."""

    def __init__(self, harness: BotHarness, telegram_id: int, language: str) -> None:
        self.harness = harness
        self.id = telegram_id
        self.language = language
        self.user: User | None = None  # the linked user, for linked_user()
        self.org: Organization | None = None

    @property
    def chat_id(self) -> int:
        return self.id

    # -- acting ------------------------------------------------------------------------------

    async def send(self, text: str) -> str | None:
        """Send a text message; returns the bot's newest text once the update was handled."""
        self.harness.fake.user_sends_text(self.id, text, language_code=self.language)
        await self.harness.handled()
        return self._newest_text()

    async def share_contact(self, phone: str, *, own: bool = True, **kwargs: Any) -> str | None:
        """Share a contact card (``own=False``: someone else's)."""
        self.harness.fake.user_shares_contact(
            self.id, phone, own=own, language_code=self.language, **kwargs
        )
        await self.harness.handled()
        return self._newest_text()

    async def press(self, button_text: str, message: StoredMessage | None = None) -> str | None:
        """Press the button labelled ``button_text`` on the newest bot message offering it."""
        target = message or self._message_with(lambda b: b.text == button_text)
        self.harness.fake.user_presses(self.id, target, button_text=button_text)
        await self.harness.handled()
        return self._newest_text()

    async def press_data(
        self, data: str, message: StoredMessage | None = None, *, forged: bool = False
    ) -> str | None:
        """Press by callback data (``forged``: data the message does not offer)."""
        if message is None:
            message = (
                self._message_with(lambda b: True)
                if forged
                else self._message_with(lambda b: b.callback_data == data)
            )
        self.harness.fake.user_presses(self.id, message, data, forged=forged)
        await self.harness.handled()
        return self._newest_text()

    # -- reading -----------------------------------------------------------------------------

    @property
    def last_message(self) -> StoredMessage:
        return self.harness.fake.last_message(self.id)

    @property
    def last_text(self) -> str | None:
        return self._newest_text()

    @property
    def texts(self) -> list[str]:
        return [
            message.text or message.caption or ""
            for message in self.harness.fake.messages(self.id, from_bot=True)
        ]

    @property
    def buttons(self) -> list[str]:
        return [button.text for button in self.last_message.buttons]

    @property
    def reply_keyboard(self) -> list[str]:
        for message in reversed(self.harness.fake.messages(self.id, from_bot=True)):
            markup = message.reply_markup or {}
            if "keyboard" in markup:
                return [button["text"] for row in markup["keyboard"] for button in row]
            if markup.get("remove_keyboard"):
                return []
        return []

    @property
    def toasts(self) -> list[str]:
        """Texts of the callback query answers the bot gave this person, oldest first."""
        return [
            answer["text"]
            for answer in self.harness.fake.callback_answers.values()
            if answer.get("text")
        ]

    def _newest_text(self) -> str | None:
        try:
            return self.harness.fake.last_text(self.id)
        except LookupError:
            return None

    def _message_with(self, wanted) -> StoredMessage:
        for message in reversed(self.harness.fake.messages(self.id, from_bot=True)):
            if any(wanted(button) for button in message.buttons):
                return message
        raise LookupError(f"no bot message in chat {self.id} has such a button")


class BotHarness:
    """The bot under test; see the module docstring."""

    def __init__(self, fake: FakeBotApi, settings: Settings, clock: FrozenClock) -> None:
        self.fake = fake
        self.settings = settings
        self.clock = clock
        self.services: Services | None = None
        self.application: Application | None = None
        self._stack: AsyncExitStack | None = None
        self._handled: set[int] = set()
        self._progress = asyncio.Event()
        self.org: Organization | None = None
        self.workspace: Workspace | None = None
        self.project: Project | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.services = build_services(self.settings, clock=self.clock)
        self.application = build_application(self.services, self.settings)
        self.application.update_processor.on_processed = self._mark
        self._stack = AsyncExitStack()
        self._stack.push_async_callback(self.services.aclose)
        await start_bot(self._stack, self.application, webhook=False)

    async def stop(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()

    async def restart(self) -> None:
        """A new process on the same database: new services, a new Application."""
        await self.stop()
        await self.start()

    def _mark(self, update: object) -> None:
        update_id = getattr(update, "update_id", None)
        if update_id is not None:
            self._handled.add(update_id)
        self._progress.set()
        self._progress = asyncio.Event()

    async def handled(self, update_id: int | None = None) -> None:
        """Wait until the bot finished handling ``update_id`` (default: the newest)."""
        target = self.fake.last_update_id if update_id is None else update_id
        try:
            async with asyncio.timeout(HANDLED_TIMEOUT):
                while target not in self._handled:
                    await self._progress.wait()
        except TimeoutError:
            raise TimeoutError(f"update {target} was not handled in {HANDLED_TIMEOUT}s") from None

    # -- people ------------------------------------------------------------------------------

    def user(self, telegram_id: int | None = None, *, language: str = "fa") -> Person:
        """A Telegram user who has not linked an account."""
        person = Person(self, telegram_id or next(_telegram_ids), language)
        self.fake.add_user(person.id, language_code=language)
        return person

    async def linked_user(
        self,
        role: Role | None = Role.WRITER,
        *,
        org: Organization | None = None,
        language: str = "fa",
        phone: str | None = None,
        telegram_id: int | None = None,
    ) -> Person:
        """A Telegram user already linked to a user with ``role`` in ``org``."""
        person = self.user(telegram_id, language=language)
        fields: dict[str, Any] = {"language": language}
        person.user = await make_user(phone=phone, **fields)
        await TelegramLink.create(user=person.user, telegram_user_id=person.id, chat_id=person.id)
        if role is not None:
            person.org = org or await self.default_org()
            await add_member(person.org, role, person.user)
        return person

    async def default_org(self) -> Organization:
        if self.org is None:
            self.org = await make_org()
            self.workspace = await make_workspace(self.org)
            self.project = await make_project(self.workspace)
        return self.org

    # -- reading -----------------------------------------------------------------------------

    def t(self, key: str, language: str = "fa", **params: Any) -> str:
        return t(language, key, **params)

    def sms_code(self, phone: str) -> str:
        return last_code(self.settings, phone)
