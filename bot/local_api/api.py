"""A Telegram Bot API for one bot, in memory, for the real python-telegram-bot to talk to.

The product mounts it on the REST sidecar for the playground (``bot/playground``) and the tests
serve it alone on a loopback port (``tests/fakes/bot_api.py``); PTB is pointed at it the way
production points it at Telegram: ``TELEGRAM_API_BASE_URL`` is :attr:`LocalBotApi.url`, i.e.
``base_url=api.base_url`` (``{url}/bot``; PTB appends the token) and
``base_file_url=api.base_file_url``. One instance is one bot, known by ``api.token``; any other
token gets Telegram's 401.

Wire format, as PTB 22 speaks it: ``POST`` (or ``GET``) ``/bot<token>/<method>``; parameters
from the query string, a JSON body, or a form / multipart body whose non-string values are
JSON-encoded fields (``telegram/request/_requestdata.py``). Answers use Telegram's envelope
``{"ok": true, "result": …}`` or ``{"ok": false, "error_code", "description", "parameters"}``
with the HTTP status equal to ``error_code`` (PTB picks its exception from the status).

Methods (every one the bot calls): getMe, getUpdates (long polling), setWebhook /
deleteWebhook / getWebhookInfo, sendMessage, sendMessageDraft, sendDocument, getFile (and the
file download route ``/file/bot<token>/<file_path>``), editMessageText, editMessageReplyMarkup,
deleteMessage, answerCallbackQuery, sendChatAction, setMyCommands / getMyCommands /
deleteMyCommands, getChat. Anything else is Telegram's 404 "Not Found" (PTB: ``InvalidToken``)
and is listed in ``unknown_methods``.

Strict where Telegram is strict: text 1–4096 characters (code points, after HTML parsing;
MarkdownV2 markup is counted, so this is a little stricter there), captions ≤ 1024,
``callback_data`` 1–64 UTF-8 bytes, "message is not modified" on identical edits, editing
without ``reply_markup`` drops the inline keyboard, unknown chats and messages, answering a
callback query twice, unsupported HTML tags and unescaped MarkdownV2 characters (``can't parse
entities``), ``getUpdates`` while a webhook is set or while a newer poll is running (409).
Markup is not rendered: stored texts are the texts as sent.

Acting as users (each queues an update and returns what it created):
``user_sends_text(user_id, text, chat_id=None, …)`` (``bot_command`` entities included),
``user_presses(user_id, message, callback_data | button_text=…)`` → callback query id,
``user_shares_contact(user_id, phone_number, own=True)``, ``user_blocks_bot(user_id)``;
``add_user`` / ``add_chat`` register a chat without an update.

Reading what happened: ``last_update_id`` (of the newest queued update), ``calls`` (every
``BotCall``, failed ones too), ``calls_to(method)``, ``sent(chat_id)`` (successful calls
addressed to the chat), ``messages(chat_id)`` and ``last_message`` / ``last_text`` / ``buttons``
(the chat as the user sees it now, edits and deletions applied), ``draft(chat_id)`` (the
streaming preview shown now), ``reply_keyboard(chat_id)``, ``file(file_id)``,
``callback_answers``, ``commands(...)``. Waiting without sleeps: ``await changed()``,
``await wait_for_calls(method, count, timeout=…)`` and ``await wait_until(predicate, …)``.

Knobs: ``fail_next(method, error_code, description=None, retry_after=None)`` (queued, one per
call), ``delays[method] = seconds``, ``stream_interval`` (seconds; when set, the flood limit a
streaming bot meets: a streamed frame, i.e. a ``sendMessageDraft`` or an ``editMessageText``
without a keyboard, to a chat sooner than that after the previous frame to the same chat gets
Telegram's 429 with ``retry_after``. Menu edits, which carry their keyboard and follow a
person's presses, are not counted), ``flood_limits`` (a ``FloodLimits``, or None, the default;
when set, Telegram's flood limits of ``flood.py`` for the methods that send or edit a message:
about one a second per chat with a short burst, 20 a minute per group, 30 a second overall; a
refused call gets 429 with ``retry_after``; ``clock=`` injects their monotonic clock),
``flood_refusals`` (the 429s of both knobs), ``max_poll_seconds``
(upper bound on how long one ``getUpdates`` is held; new updates and :meth:`close` wake it at
once; ``expired_polls`` counts the polls that ran out).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

from bot.local_api.flood import LIMITED_METHODS, FloodGate, FloodLimits

# A fixed, well-formed token: the local Bot API is no secret (any other token gets 401).
DEFAULT_TOKEN = "7000000001:AAH-fake-token-for-contexor-tests_0123456"  # noqa: S105
DEFAULT_BOT_USERNAME = "contexor_test_bot"

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are"
    " exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
BLOCKED = "Forbidden: bot was blocked by the user"
GET_UPDATES_WHILE_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active;"
    " use deleteWebhook to delete the webhook first"
)
GET_UPDATES_TERMINATED = (
    "Conflict: terminated by other getUpdates request;"
    " make sure that only one bot instance is running"
)

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: BLOCKED,
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
# Sent as raw strings by PTB and never JSON-decoded by the fake ("42" stays text).
_STRING_FIELDS = frozenset(
    [
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "action",
        "url",
        "secret_token",
        "ip_address",
        "language_code",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "file_id",
    ]
)
# Objects that a JSON body may still carry as JSON-serialised strings (Telegram accepts both).
_JSON_FIELDS = frozenset(
    [
        "reply_markup",
        "entities",
        "caption_entities",
        "commands",
        "scope",
        "reply_parameters",
        "link_preview_options",
        "allowed_updates",
    ]
)
_CHAT_ACTIONS = frozenset(
    [
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ]
)
# getUpdates with an empty allowed_updates list delivers everything but these.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_HTML_TAGS = frozenset(
    [
        "a",
        "b",
        "blockquote",
        "code",
        "del",
        "em",
        "i",
        "ins",
        "pre",
        "s",
        "span",
        "strike",
        "strong",
        "tg-emoji",
        "tg-spoiler",
        "tg-time",
        "u",
    ]
)
# MarkdownV2 characters that never start formatting, so an unescaped one is always an error.
_MDV2_ALWAYS_ESCAPED = frozenset(".!-#+={}")
_COMMAND = re.compile(r"(?:^|(?<=\s))/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")


class TelegramApiError(Exception):
    """A Bot API error answer; raised inside the fake's method handlers."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None):
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after


def _bad_request(detail: str) -> TelegramApiError:
    return TelegramApiError(400, f"Bad Request: {detail}")


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True)
class BotCall:
    """One Bot API call as the fake answered it: decoded parameters and the outcome."""

    method: str
    params: dict[str, Any]
    result: Any = None
    error_code: int | None = None
    description: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the fake answered ``{"ok": true}``."""
        return self.error_code is None

    @property
    def chat_id(self) -> int | str | None:
        """The ``chat_id`` parameter, if the call had one."""
        return self.params.get("chat_id")


@dataclass(frozen=True)
class InlineButton:
    """An inline keyboard button as the user sees it."""

    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass
class StoredMessage:
    """A message in a chat, kept up to date by edits and deletions (treat as read-only)."""

    chat: dict[str, Any]
    message_id: int
    date: int
    sender: dict[str, Any]
    text: str | None = None
    entities: list[dict[str, Any]] | None = None
    parse_mode: str | None = None
    caption: str | None = None
    document: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
    reply_markup: dict[str, Any] | None = None
    reply_to: StoredMessage | None = None
    forward_origin: dict[str, Any] | None = None
    edit_date: int | None = None
    deleted: bool = False

    @property
    def chat_id(self) -> int:
        return int(self.chat["id"])

    @property
    def from_bot(self) -> bool:
        return bool(self.sender.get("is_bot"))

    @property
    def inline_keyboard(self) -> list[list[InlineButton]]:
        """The inline keyboard's rows (empty when the message has none)."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [
            [
                InlineButton(
                    text=button.get("text", ""),
                    callback_data=button.get("callback_data"),
                    url=button.get("url"),
                )
                for button in row
            ]
            for row in rows
        ]

    @property
    def buttons(self) -> list[InlineButton]:
        """The inline keyboard's buttons, row by row."""
        return [button for row in self.inline_keyboard for button in row]

    def to_json(self, *, with_reply: bool = True) -> dict[str, Any]:
        """The Bot API ``Message`` object."""
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat,
            "date": self.date,
        }
        optional = {
            "text": self.text,
            "entities": self.entities,
            "caption": self.caption,
            "document": self.document,
            "contact": self.contact,
            "forward_origin": self.forward_origin,
            "edit_date": self.edit_date,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        # Only inline keyboards travel with a message; reply keyboards are client state.
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            data["reply_markup"] = self.reply_markup
        if with_reply and self.reply_to is not None:
            data["reply_to_message"] = self.reply_to.to_json(with_reply=False)
        return data


@dataclass
class _Failure:
    error_code: int
    description: str
    retry_after: int | None


@dataclass
class _Webhook:
    url: str
    params: dict[str, Any] = field(default_factory=dict)


class LocalBotApi:
    """The Telegram Bot API for one bot, in memory: mount its routes on any aiohttp app."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = DEFAULT_BOT_USERNAME,
        bot_first_name: str = "Contexor Test",
        flood_limits: FloodLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = ""  # where the routes are served (serve_at)
        self.token = token
        bot_id, _, _ = token.partition(":")
        self.bot_user: dict[str, Any] = {
            "id": int(bot_id) if bot_id.isdigit() else 7_000_000_001,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[BotCall] = []
        self.unknown_methods: list[str] = []
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.delays: dict[str, float] = {}
        self.stream_interval: float | None = None
        self.flood_refusals = 0
        self._clock = clock  # monotonic seconds, for the flood limits
        self._flood_gate: FloodGate | None = None
        self.flood_limits = flood_limits
        self._last_stream_call: dict[Any, float] = {}
        self.max_poll_seconds = 1.0
        self.expired_polls = 0
        self.webhook: _Webhook | None = None
        self._users: dict[int, dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._messages: dict[int, list[StoredMessage]] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._blocked: set[int] = set()
        self._gone_chats: set[int] = set()  # groups the bot was removed from
        self._drafts: dict[int, dict[str, Any]] = {}  # chat -> the streaming preview shown now
        self._files: dict[str, UploadedFile] = {}  # file_id -> what the bot uploaded
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._last_update_id = 0
        self._query_ids = itertools.count(4_000_001)
        self._open_queries: dict[str, StoredMessage] = {}
        self._allowed_updates: list[str] = []
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._poll_generation = 0
        self._waiting_polls = 0
        self._closing = False
        self._changed = asyncio.Event()
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": self._get_me,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendMessageDraft": self._send_message_draft,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChat": self._get_chat,
            "getFile": self._get_file,
        }
        # Telegram matches method names case-insensitively; getUpdates is async, see _dispatch.
        self._names = {name.lower(): name for name in [*self._handlers, "getUpdates"]}

    # -- wiring ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://host:port[/prefix]``: what ``TELEGRAM_API_BASE_URL`` is set to."""
        return self._url

    def serve_at(self, url: str) -> None:
        """Record where the host serves :meth:`routes` (the server and the prefix)."""
        self._url = url.rstrip("/")

    @property
    def base_url(self) -> str:
        """PTB's ``base_url`` (the token is appended by PTB)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """PTB's ``base_file_url``."""
        return f"{self.url}/file/bot"

    def routes(self, prefix: str = "") -> list[web.RouteDef]:
        """The Bot API's routes under ``prefix`` (so ``url`` is ``<server><prefix>``)."""
        return [
            web.post(prefix + "/bot{token}/{method}", self._handle),
            web.get(prefix + "/bot{token}/{method}", self._handle),
            web.get(prefix + "/file/bot{token}/{file_path:.+}", self._download),
        ]

    def add_routes(self, app: web.Application) -> None:
        app.add_routes(self.routes())

    def open(self) -> None:
        """Serve long polls again after :meth:`close`."""
        self._closing = False

    def close(self) -> None:
        """Wake held long polls so they answer [] instead of being cut off at shutdown."""
        self._closing = True
        self._notify()

    async def changed(self) -> None:
        """Return at the next change of the state (a call, an update, a poll)."""
        await self._changed.wait()

    # -- knobs ----------------------------------------------------------------------------

    @property
    def flood_limits(self) -> FloodLimits | None:
        return None if self._flood_gate is None else self._flood_gate.limits

    @flood_limits.setter
    def flood_limits(self, limits: FloodLimits | None) -> None:
        """Switch Telegram's flood limits on (with full buckets) or off (None)."""
        self._flood_gate = None if limits is None else FloodGate(limits, self._clock)

    def fail_next(
        self,
        method: str,
        error_code: int = 400,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next call of ``method`` with this error (queued: call again for more).

        429 gets ``parameters.retry_after`` (1 unless given) and Telegram's "Too Many Requests:
        retry after N"; other codes default to Telegram's usual description.
        """
        name = self._canonical(method)
        if name is None:
            raise ValueError(f"the fake does not implement {method!r}")
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if error_code == 429
                else _DEFAULT_DESCRIPTIONS.get(error_code, "Bad Request")
            )
        self._failures.setdefault(name, []).append(_Failure(error_code, description, retry_after))

    # -- users ----------------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        language_code: str | None = None,
        username: str | None = None,
        started: bool = True,
    ) -> dict[str, Any]:
        """Register (or update) a user; returns the User (new: "User <id>", language "fa").

        ``started`` also opens the user's private chat with the bot. As on Telegram, the bot
        cannot write first to a user who never started it (403), nor to an unknown id (400).
        """
        user = self._users.setdefault(
            user_id,
            {
                "id": user_id,
                "is_bot": False,
                "first_name": f"User {user_id}",
                "language_code": "fa",
            },
        )
        if first_name is not None:
            user["first_name"] = first_name
        if language_code is not None:
            user["language_code"] = language_code
        if username is not None:
            user["username"] = username
        if started:
            chat = self._chats.setdefault(user_id, {"id": user_id, "type": "private"})
            chat["first_name"] = user["first_name"]
            if "username" in user:
                chat["username"] = user["username"]
        return user

    def add_chat(
        self,
        chat_id: int,
        *,
        chat_type: str | None = None,
        title: str | None = None,
        username: str | None = None,
    ) -> dict[str, Any]:
        """Register a group, supergroup or channel the bot is in; returns the Chat.

        The type defaults from the id (``-100…`` supergroup, other negatives group); a
        ``username`` makes it public, so ``@username`` reaches it.
        """
        if chat_type is None:
            chat_type = "supergroup" if str(chat_id).startswith("-100") else "group"
        chat = {"id": chat_id, "type": chat_type, "title": title or f"Chat {chat_id}"}
        if username is not None:
            chat["username"] = username
        self._chats[chat_id] = chat
        return chat

    def user_blocks_bot(self, user_id: int) -> None:
        """From now on, calls to the user's private chat fail with 403 (until they write)."""
        self._blocked.add(user_id)

    def bot_removed_from(self, chat_id: int, *, by_user_id: int) -> None:
        """Queue the ``my_chat_member`` update Telegram sends when someone removes the bot
        from a group; the chat then answers 403 to the bot."""
        chat = self._chats[chat_id]
        remover = self.add_user(by_user_id, started=False)
        self._gone_chats.add(chat_id)
        self._queue_update(
            "my_chat_member",
            {
                "chat": chat,
                "from": remover,
                "date": _now(),
                "old_chat_member": {"status": "member", "user": self.bot_user},
                "new_chat_member": {"status": "kicked", "user": self.bot_user, "until_date": 0},
            },
        )

    def user_sends_text(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        *,
        first_name: str | None = None,
        language_code: str | None = None,
        username: str | None = None,
        reply_to: int | StoredMessage | None = None,
    ) -> StoredMessage:
        """Queue a text message from the user (``/commands`` get ``bot_command`` entities)."""
        entities = [
            {
                "type": "bot_command",
                "offset": _utf16_len(text[: match.start()]),
                "length": _utf16_len(match.group()),
            }
            for match in _COMMAND.finditer(text)
        ]
        return self._user_message(
            user_id,
            chat_id,
            first_name=first_name,
            language_code=language_code,
            username=username,
            text=text,
            entities=entities or None,
            reply_to=reply_to,
        )

    def user_shares_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        own: bool = True,
        other_user_id: int | None = None,
        forwarded: bool = False,
        first_name: str | None = None,
        language_code: str | None = None,
    ) -> StoredMessage:
        """Queue a contact message: the sender's own number, or (``own=False``) someone else's.

        ``own=False`` carries ``other_user_id`` (default ``user_id + 1``) as ``contact.user_id``;
        ``forwarded`` adds a ``forward_origin``, as when a contact card is forwarded.
        """
        user = self.add_user(user_id, first_name=first_name, language_code=language_code)
        if own:
            contact = {
                "phone_number": phone_number,
                "first_name": user["first_name"],
                "user_id": user_id,
            }
        else:
            contact = {
                "phone_number": phone_number,
                "first_name": "Someone Else",
                "user_id": other_user_id if other_user_id is not None else user_id + 1,
            }
        origin = None
        if forwarded:
            sender = {"id": contact["user_id"], "is_bot": False, "first_name": "Someone"}
            origin = {"type": "user", "date": _now() - 60, "sender_user": sender}
        return self._user_message(user_id, None, contact=contact, forward_origin=origin)

    def user_presses(
        self,
        user_id: int,
        message: int | StoredMessage,
        callback_data: str | None = None,
        *,
        button_text: str | None = None,
        chat_id: int | None = None,
        forged: bool = False,
    ) -> str:
        """Queue a callback query for a button of a bot message; returns the query id.

        Name the button by ``callback_data`` or ``button_text`` (needed when PTB's arbitrary
        callback data hides the real data). A press of data the message does not offer is a
        test mistake (``ValueError``) unless ``forged=True``: a malicious client sending it.
        """
        if (callback_data is None) == (button_text is None):
            raise ValueError("give exactly one of callback_data and button_text")
        if isinstance(message, StoredMessage):
            stored = message
        else:
            stored = self.message(chat_id if chat_id is not None else user_id, message)
        if stored.deleted or not stored.from_bot:
            raise ValueError(f"message {stored.message_id} is deleted or not the bot's")
        offered = [button for button in stored.buttons if button.callback_data is not None]
        if button_text is not None:
            matching = [button for button in offered if button.text == button_text]
            if not matching:
                raise ValueError(f"no button {button_text!r}; the message offers {offered}")
            callback_data = matching[0].callback_data
        elif not forged and callback_data not in {button.callback_data for button in offered}:
            raise ValueError(f"no button with data {callback_data!r}; offered: {offered}")
        user = self.add_user(user_id, started=False)
        query_id = str(next(self._query_ids))
        self._open_queries[query_id] = stored
        self._queue_update(
            "callback_query",
            {
                "id": query_id,
                "from": user,
                "message": stored.to_json(),
                "chat_instance": f"{stored.chat_id}{self.bot_user['id']}",
                "data": callback_data,
            },
        )
        return query_id

    # -- reading --------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[BotCall]:
        """Every call of ``method`` (any spelling), failed ones included."""
        name = self._canonical(method) or method
        return [call for call in self.calls if call.method == name]

    def sent(self, chat_id: int) -> list[BotCall]:
        """The successful calls addressed to ``chat_id``, oldest first."""
        return [call for call in self.calls if call.ok and _same_chat(call.chat_id, chat_id)]

    def messages(self, chat_id: int, *, from_bot: bool | None = None) -> list[StoredMessage]:
        """The chat as it looks now: undeleted messages, oldest first."""
        return [
            message
            for message in self._messages.get(chat_id, [])
            if not message.deleted and (from_bot is None or message.from_bot == from_bot)
        ]

    def message(self, chat_id: int, message_id: int) -> StoredMessage:
        """One stored message (``KeyError`` if the chat never had it)."""
        for stored in self._messages.get(chat_id, []):
            if stored.message_id == message_id:
                return stored
        raise KeyError((chat_id, message_id))

    def last_message(self, chat_id: int) -> StoredMessage:
        """The bot's newest undeleted message in the chat (``LookupError`` if none)."""
        bot_messages = self.messages(chat_id, from_bot=True)
        if not bot_messages:
            raise LookupError(f"the bot has no message in chat {chat_id}")
        return bot_messages[-1]

    def last_text(self, chat_id: int) -> str | None:
        """The text (or caption) of the bot's newest undeleted message, edits applied."""
        message = self.last_message(chat_id)
        return message.text if message.text is not None else message.caption

    def buttons(self, chat_id: int, message_id: int | None = None) -> list[InlineButton]:
        """The inline buttons of a bot message (default: the newest)."""
        if message_id is None:
            return self.last_message(chat_id).buttons
        return self.message(chat_id, message_id).buttons

    def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        """The command menu set for ``scope`` (default scope) and language."""
        return list(self._commands.get((_scope_key(scope), language_code), []))

    def draft(self, chat_id: int) -> str | None:
        """The streaming preview (``sendMessageDraft``) the chat shows now, if any."""
        current = self._drafts.get(chat_id)
        return None if current is None else current["text"]

    def file(self, file_id: str) -> UploadedFile | None:
        """A document the bot uploaded, by its ``file_id``."""
        return self._files.get(file_id)

    def reply_keyboard(self, chat_id: int) -> list[list[dict[str, Any]]] | None:
        """The reply keyboard the chat shows now (rows of ``KeyboardButton``), if any.

        The newest bot message carrying a reply keyboard or ``remove_keyboard`` decides; a
        ``one_time_keyboard`` hides once the user has written after it, as Telegram's clients do.
        """
        user_wrote = False
        for message in reversed(self.messages(chat_id)):
            if not message.from_bot:
                user_wrote = True
                continue
            markup = message.reply_markup or {}
            if markup.get("remove_keyboard"):
                return None
            if "keyboard" in markup:
                if markup.get("one_time_keyboard") and user_wrote:
                    return None
                return [
                    [b if isinstance(b, dict) else {"text": str(b)} for b in row]
                    for row in markup["keyboard"]
                ]
        return None

    @property
    def last_update_id(self) -> int:
        """The id of the newest update queued so far (0 before the first)."""
        return self._last_update_id

    @property
    def pending_updates(self) -> int:
        """Updates queued and not yet confirmed by a ``getUpdates`` offset."""
        return len(self._updates)

    @property
    def waiting_polls(self) -> int:
        """``getUpdates`` requests being held right now."""
        return self._waiting_polls

    # -- waiting --------------------------------------------------------------------------

    async def wait_until(
        self,
        predicate: Callable[[], bool],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (bounded by default: a test cannot hang)
        what: str = "condition",
    ) -> None:
        """Return once ``predicate()`` holds; it is re-checked whenever the fake's state moves."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(
                f"{what} not reached within {timeout}s; calls so far: {self._summary()}"
            ) from None

    async def wait_for_calls(
        self,
        method: str,
        count: int = 1,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (bounded by default: a test cannot hang)
        chat_id: int | None = None,
    ) -> list[BotCall]:
        """Wait until ``method`` was called ``count`` times (optionally for one chat).

        Returns all matching calls so far; raises ``TimeoutError`` naming what was seen.
        """

        def matching() -> list[BotCall]:
            found = self.calls_to(method)
            if chat_id is not None:
                found = [call for call in found if _same_chat(call.chat_id, chat_id)]
            return found

        await self.wait_until(
            lambda: len(matching()) >= count,
            timeout=timeout,
            what=f"{count} {method} call(s)" + (f" for chat {chat_id}" if chat_id else ""),
        )
        return matching()

    # -- HTTP -----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error_response(TelegramApiError(401, "Unauthorized"))
        requested = request.match_info["method"]
        name = self._canonical(requested)
        if name is None:
            self.unknown_methods.append(requested)
            self._notify()
            return _error_response(TelegramApiError(404, "Not Found"))
        try:
            params = await _read_params(request)
        except TelegramApiError as error:
            return _error_response(error)
        if delay := self.delays.get(name):
            await asyncio.sleep(delay)
        try:
            result = await self._dispatch(name, params)
        except TelegramApiError as error:
            self._record(
                BotCall(name, params, error_code=error.error_code, description=error.description)
            )
            return _error_response(error)
        self._record(BotCall(name, params, result=result))
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error_response(TelegramApiError(401, "Unauthorized"))
        parts = request.match_info["file_path"].split("/")
        known = len(parts) == 3 and parts[0] == "documents"
        uploaded = self._files.get(parts[1]) if known else None
        if uploaded is None:
            return _error_response(TelegramApiError(404, "Not Found"))
        return web.Response(body=uploaded.data, content_type=uploaded.content_type)

    async def _dispatch(self, name: str, params: dict[str, Any]) -> Any:
        if pending := self._failures.get(name):
            failure = pending.pop(0)
            raise TelegramApiError(
                failure.error_code, failure.description, retry_after=failure.retry_after
            )
        if name == "getUpdates":
            return await self._get_updates(params)
        if self.stream_interval is not None and (
            name == "sendMessageDraft"
            or (name == "editMessageText" and not params.get("reply_markup"))
        ):
            self._pace_stream(params.get("chat_id"))
        if self._flood_gate is not None and name in LIMITED_METHODS:
            self._hold_flood(self._flood_gate, params)
        return self._handlers[name](params)

    def _hold_flood(self, gate: FloodGate, params: dict[str, Any]) -> None:
        chat = self._find_chat(params.get("chat_id"))
        if chat is None:
            return  # the method answers "chat not found" (or its own error) itself
        wait = gate.admit(chat["id"], group=chat["type"] != "private")
        if wait is not None:
            self.flood_refusals += 1
            raise TelegramApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)

    def _pace_stream(self, chat_id: Any) -> None:
        key = str(chat_id)
        now = self._clock()
        last = self._last_stream_call.get(key)
        assert self.stream_interval is not None
        if last is not None and now - last < self.stream_interval:
            self.flood_refusals += 1
            wait = max(1, int(self.stream_interval - (now - last) + 0.999))
            raise TelegramApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        self._last_stream_call[key] = now

    def _canonical(self, method: str) -> str | None:
        return self._names.get(method.lower())

    def _record(self, call: BotCall) -> None:
        self.calls.append(call)
        self._notify()

    def _notify(self) -> None:
        # A fresh Event per change: every waiter re-checks its condition, none is left behind.
        self._changed.set()
        self._changed = asyncio.Event()

    def _summary(self) -> str:
        counts: dict[str, int] = {}
        for call in self.calls:
            if call.method != "getUpdates":
                label = call.method if call.ok else f"{call.method}({call.error_code})"
                counts[label] = counts.get(label, 0) + 1
        return ", ".join(f"{name}×{n}" for name, n in counts.items()) or "none"

    # -- updates --------------------------------------------------------------------------

    def _queue_update(self, kind: str, payload: dict[str, Any]) -> None:
        self._last_update_id = next(self._update_ids)
        self._updates.append({"update_id": self._last_update_id, kind: payload})
        self._notify()

    def _user_message(
        self,
        user_id: int,
        chat_id: int | None,
        *,
        first_name: str | None = None,
        language_code: str | None = None,
        username: str | None = None,
        reply_to: int | StoredMessage | None = None,
        **content: Any,
    ) -> StoredMessage:
        target = user_id if chat_id is None else chat_id
        user = self.add_user(
            user_id,
            first_name=first_name,
            language_code=language_code,
            username=username,
            started=target == user_id,
        )
        if target == user_id:
            self._blocked.discard(user_id)  # writing to the bot means it is not blocked (any more)
        chat = self._chats.get(target) or self.add_chat(target)
        if isinstance(reply_to, int):
            reply_to = self.message(target, reply_to)
        stored = StoredMessage(
            chat=chat,
            message_id=self._next_message_id(target),
            date=_now(),
            sender=user,
            reply_to=reply_to,
            **content,
        )
        self._messages.setdefault(target, []).append(stored)
        self._queue_update("message", stored.to_json())
        return stored

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise TelegramApiError(409, GET_UPDATES_WHILE_WEBHOOK)
        offset = _as_int(params.get("offset", 0), "offset")
        limit = min(max(_as_int(params.get("limit", 100), "limit"), 1), 100)
        timeout = max(_as_number(params.get("timeout") or 0, "timeout"), 0.0)
        if (allowed := params.get("allowed_updates")) is not None:
            self._allowed_updates = list(allowed)
        self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # an older poll still held is terminated (409), as on Telegram

        def done() -> bool:
            return bool(self._deliverable()) or self._closing or self._poll_generation != generation

        hold = min(timeout, self.max_poll_seconds)
        if not done() and hold > 0:
            self._waiting_polls += 1
            self._notify()
            try:
                async with asyncio.timeout(hold):
                    while not done():
                        await self._changed.wait()
            except TimeoutError:
                self.expired_polls += 1
            finally:
                self._waiting_polls -= 1
        if self._poll_generation != generation:
            raise TelegramApiError(409, GET_UPDATES_TERMINATED)
        return self._deliverable()[:limit]

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _deliverable(self) -> list[dict[str, Any]]:
        # Updates of types the bot did not ask for are dropped, as Telegram does.
        self._updates = [u for u in self._updates if self._wanted(u)]
        return self._updates

    def _wanted(self, update: dict[str, Any]) -> bool:
        kind = next(key for key in update if key != "update_id")
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in _OPT_IN_UPDATES

    # -- methods --------------------------------------------------------------------------

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url", ""))
        if params.get("drop_pending_updates"):
            self._updates.clear()
        if not url:
            self.webhook = None
            return True
        if not url.startswith("https://"):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = _Webhook(url=url, params=params)
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = None
        return True

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook is not None:
            for key in ("max_connections", "allowed_updates", "ip_address"):
                if key in self.webhook.params:
                    info[key] = self.webhook.params[key]
        return info

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(params)
        text = params.get("text")
        parse_mode = params.get("parse_mode")
        _check_text(text, parse_mode, MAX_TEXT_LENGTH, "message text")
        markup = _check_markup(params.get("reply_markup"))
        stored = self._bot_message(
            chat,
            params,
            text=text,
            parse_mode=parse_mode,
            entities=params.get("entities"),
            reply_markup=markup,
        )
        return stored.to_json()

    def _send_message_draft(self, params: dict[str, Any]) -> bool:
        chat = self._target_chat(params)
        if chat["type"] != "private":
            raise _bad_request("drafts can be sent only to private chats")
        if not _as_int(params.get("draft_id", 0), "draft_id"):
            raise _bad_request("draft_id must be non-zero")
        text = params.get("text") or ""
        if len(_visible_text(text, params.get("parse_mode"))) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        self._drafts[chat["id"]] = {"draft_id": params["draft_id"], "text": text}
        return True

    def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(params)
        document = params.get("document")
        if isinstance(document, UploadedFile):
            number = sum(1 for call in self.calls if call.method == "sendDocument") + 1
            info: dict[str, Any] = {
                "file_id": f"BQACAgfake{number:06d}",
                "file_unique_id": f"AgADfake{number:06d}",
                "file_size": len(document.data),
                "mime_type": document.content_type,
            }
            if document.filename:
                info["file_name"] = document.filename
            self._files[info["file_id"]] = document
        elif isinstance(document, str) and document:
            info = {"file_id": document, "file_unique_id": f"AgAD{document[-12:]}"}
        else:
            raise _bad_request("there is no document in the request")
        caption = params.get("caption")
        if caption is not None:
            _check_text(caption, params.get("parse_mode"), MAX_CAPTION_LENGTH, "message caption")
        markup = _check_markup(params.get("reply_markup"))
        stored = self._bot_message(
            chat,
            params,
            caption=caption,
            parse_mode=params.get("parse_mode"),
            document=info,
            reply_markup=markup,
        )
        return stored.to_json()

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._editable(params)
        text = params.get("text")
        parse_mode = params.get("parse_mode")
        _check_text(text, parse_mode, MAX_TEXT_LENGTH, "message text")
        markup = _check_markup(params.get("reply_markup"))
        if stored.text is None:
            raise _bad_request("there is no text in the message to edit")
        if text == stored.text and markup == _inline_only(stored.reply_markup):
            raise TelegramApiError(400, NOT_MODIFIED)
        stored.text = text
        stored.parse_mode = parse_mode
        stored.entities = params.get("entities")
        stored.reply_markup = markup  # no reply_markup in the edit removes the keyboard
        stored.edit_date = _now()
        return stored.to_json()

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._editable(params)
        markup = _check_markup(params.get("reply_markup"))
        if markup == _inline_only(stored.reply_markup):
            raise TelegramApiError(400, NOT_MODIFIED)
        stored.reply_markup = markup
        stored.edit_date = _now()
        return stored.to_json()

    def _delete_message(self, params: dict[str, Any]) -> bool:
        chat = self._target_chat(params)
        message_id = _required_int(params, "message_id")
        try:
            stored = self.message(chat["id"], message_id)
        except KeyError:
            raise _bad_request("message to delete not found") from None
        if stored.deleted:
            raise _bad_request("message to delete not found")
        stored.deleted = True
        return True

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._open_queries:
            raise TelegramApiError(400, QUERY_INVALID)
        del self._open_queries[query_id]
        self.callback_answers[query_id] = {
            key: params[key] for key in ("text", "show_alert", "url", "cache_time") if key in params
        }
        return True

    def _send_chat_action(self, params: dict[str, Any]) -> bool:
        self._target_chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad_request("BOT_COMMANDS_TOO_MUCH" if commands else "commands is empty")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_NAME.fullmatch(
                str(command.get("command", ""))
            ):
                raise _bad_request("BOT_COMMAND_INVALID")
        key = (_scope_key(params.get("scope")), str(params.get("language_code", "")))
        self._commands[key] = [
            {"command": c["command"], "description": c.get("description", "")} for c in commands
        ]
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        return self.commands(params.get("scope"), str(params.get("language_code", "")))

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        key = (_scope_key(params.get("scope")), str(params.get("language_code", "")))
        self._commands.pop(key, None)
        return True

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id") or "")
        uploaded = self._files.get(file_id)
        if uploaded is None:
            raise _bad_request("invalid file_id")
        return {
            "file_id": file_id,
            "file_unique_id": f"AgAD{file_id[-12:]}",
            "file_size": len(uploaded.data),
            "file_path": f"documents/{file_id}/{uploaded.filename or 'file'}",
        }

    def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target_chat(params)
        info = {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        if chat["type"] == "private" and (user := self._users.get(chat["id"])):
            info.update({k: user[k] for k in ("first_name", "username") if k in user})
        return info

    # -- method helpers -------------------------------------------------------------------

    def _target_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _bad_request("chat_id is empty")
        chat = self._find_chat(raw)
        if chat is None:
            if _int_or_none(raw) in self._users:
                raise TelegramApiError(
                    403, "Forbidden: bot can't initiate conversation with a user"
                )
            raise _bad_request("chat not found")
        if chat["id"] in self._blocked:
            raise TelegramApiError(403, BLOCKED)
        if chat["id"] in self._gone_chats:
            raise TelegramApiError(403, "Forbidden: bot was kicked from the group chat")
        return chat

    def _find_chat(self, raw: Any) -> dict[str, Any] | None:
        if isinstance(raw, str) and raw.startswith("@"):
            # Only public groups and channels are reachable by @username, not users.
            wanted = raw[1:].lower()
            for chat in self._chats.values():
                if chat["type"] != "private" and str(chat.get("username", "")).lower() == wanted:
                    return chat
            return None
        chat_id = _int_or_none(raw)
        return None if chat_id is None else self._chats.get(chat_id)

    def _editable(self, params: dict[str, Any]) -> StoredMessage:
        if params.get("inline_message_id"):
            raise _bad_request("the fake does not support inline messages")
        chat = self._target_chat(params)
        message_id = _required_int(params, "message_id")
        try:
            stored = self.message(chat["id"], message_id)
        except KeyError:
            raise _bad_request("message to edit not found") from None
        if stored.deleted:
            raise _bad_request("message to edit not found")
        if not stored.from_bot:
            raise _bad_request("message can't be edited")
        return stored

    def _bot_message(
        self, chat: dict[str, Any], params: dict[str, Any], **content: Any
    ) -> StoredMessage:
        reply_to = None
        if isinstance(reply := params.get("reply_parameters"), dict):
            try:
                reply_to = self.message(chat["id"], _as_int(reply.get("message_id"), "reply"))
            except KeyError:
                reply_to = None
            if (reply_to is None or reply_to.deleted) and not reply.get(
                "allow_sending_without_reply"
            ):
                raise _bad_request("message to be replied not found")
        stored = StoredMessage(
            chat=chat,
            message_id=self._next_message_id(chat["id"]),
            date=_now(),
            sender={key: self.bot_user[key] for key in ("id", "is_bot", "first_name", "username")},
            reply_to=reply_to,
            **content,
        )
        self._messages.setdefault(chat["id"], []).append(stored)
        self._drafts.pop(chat["id"], None)  # the message replaces its streaming preview
        return stored

    def _next_message_id(self, chat_id: int) -> int:
        # Message ids are per chat on Telegram: never key messages by message_id alone.
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)


# -- request decoding --------------------------------------------------------------------


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = {
        key: _decode_field(key, value) for key, value in request.query.items()
    }
    if request.method != "POST" or not request.body_exists:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise _bad_request("can't parse JSON object") from None
        if not isinstance(body, dict):
            raise _bad_request("can't parse JSON object")
        for key, value in body.items():
            is_serialised = key in _JSON_FIELDS and isinstance(value, str)
            params[key] = _decode_field(key, value) if is_serialised else value
        return params
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            params[key] = UploadedFile(value.filename, value.content_type, value.file.read())
        else:
            params[key] = _decode_field(key, value)
    return params


def _decode_field(key: str, raw: str) -> Any:
    # PTB sends strings raw and every other value JSON-encoded (RequestParameter.json_value).
    if key in _STRING_FIELDS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _error_response(error: TelegramApiError) -> web.Response:
    payload: dict[str, Any] = {
        "ok": False,
        "error_code": error.error_code,
        "description": error.description,
    }
    if error.retry_after is not None:
        payload["parameters"] = {"retry_after": error.retry_after}
    return web.json_response(payload, status=error.error_code)


# -- validation --------------------------------------------------------------------------


def _check_text(text: Any, parse_mode: Any, limit: int, what: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise _bad_request(f"{what} is empty")
    if (problem := _parse_problem(text, parse_mode)) is not None:
        raise _bad_request(f"can't parse entities: {problem}")
    visible = _visible_text(text, parse_mode)
    if not visible.strip():
        raise _bad_request(f"{what} is empty")
    if len(visible) > limit:  # code points: an emoji counts once, unlike entity offsets
        raise _bad_request(
            "message is too long" if what == "message text" else f"{what} is too long"
        )


def _check_markup(markup: Any) -> dict[str, Any] | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard") or []
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad_request("can't parse inline keyboard markup JSON object")
    for button in (button for row in rows for button in row):
        if not isinstance(button, dict) or not button.get("text"):
            raise _bad_request("BUTTON_TEXT_INVALID")
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
            raise _bad_request("BUTTON_DATA_INVALID")
    return markup


def _inline_only(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    return markup if markup and "inline_keyboard" in markup else None


def _parse_problem(text: str, parse_mode: Any) -> str | None:
    mode = str(parse_mode or "").lower()
    if mode == "html":
        return _HtmlChecker(text).problem
    if mode == "markdownv2":
        return _markdown_v2_problem(text)
    return None


def _visible_text(text: str, parse_mode: Any) -> str:
    if str(parse_mode or "").lower() == "html":
        return _HtmlChecker(text).visible
    return text


class _HtmlChecker(HTMLParser):
    """Telegram's HTML subset: known tags only, properly nested; collects the visible text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._source = source
        self._open: list[str] = []
        self._parts: list[str] = []
        self.problem: str | None = None
        self.feed(source)
        self.close()
        if self.problem is None and self._open:
            self.problem = f'Can\'t find end tag corresponding to start tag "{self._open[-1]}"'
        self.visible = "".join(self._parts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.problem is not None:
            return
        if tag not in _HTML_TAGS:
            self.problem = f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}'
        elif tag == "span" and ("class", "tg-spoiler") not in attrs:
            self.problem = 'Tag "span" must have class "tg-spoiler"'
        else:
            self._open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.problem is None:  # <br/> and friends: Telegram has no empty elements
            self.problem = f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}'

    def handle_endtag(self, tag: str) -> None:
        if self.problem is not None:
            return
        if not self._open:
            self.problem = f"Unexpected end tag at byte offset {self._byte_offset()}"
        elif self._open[-1] != tag:
            self.problem = (
                f"Unmatched end tag at byte offset {self._byte_offset()},"
                f' expected "</{self._open[-1]}>", found "</{tag}>"'
            )
        else:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        self._parts.append(data)

    def _byte_offset(self) -> int:
        line, column = self.getpos()
        lines = self._source.split("\n")
        index = sum(len(text) + 1 for text in lines[: line - 1]) + column
        return len(self._source[:index].encode())


def _markdown_v2_problem(text: str) -> str | None:
    """The first always-reserved character left unescaped outside code and link targets."""
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
        elif text.startswith("```", index):
            index = _after(text, index + 3, "```")
        elif char == "`":
            index = _after(text, index + 1, "`")
        elif text.startswith("](", index):
            index = _after(text, index + 2, ")")
        elif char == "!" and text.startswith("[", index + 1):
            index += 1  # ![emoji](tg://emoji?id=…)
        elif char in _MDV2_ALWAYS_ESCAPED:
            return f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        else:
            index += 1
    return None


def _after(text: str, index: int, closer: str) -> int:
    """The index just past ``closer`` (escapes honoured), or the end of the text."""
    while index < len(text):
        if text[index] == "\\":
            index += 2
        elif text.startswith(closer, index):
            return index + len(closer)
        else:
            index += 1
    return len(text)


# -- small helpers -----------------------------------------------------------------------


def _now() -> int:
    return int(time.time())


def _utf16_len(text: str) -> int:
    # Entity offsets and lengths are UTF-16 code units (Persian is one unit, emoji two).
    return len(text.encode("utf-16-le")) // 2


def _as_int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad_request(f"wrong parameter {name} in request") from None


def _as_number(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _bad_request(f"wrong parameter {name} in request") from None


def _required_int(params: dict[str, Any], name: str) -> int:
    if params.get(name) in (None, ""):
        raise _bad_request(f"{name} is empty")
    return _as_int(params[name], name)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _same_chat(value: Any, chat_id: int) -> bool:
    return _int_or_none(value) == chat_id


def _scope_key(scope: Any) -> str:
    return json.dumps(scope or {"type": "default"}, sort_keys=True)
