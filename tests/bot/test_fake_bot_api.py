"""The fake Telegram Bot API, exercised through the real python-telegram-bot.

Every assertion about Telegram's behaviour goes through PTB's own client (``telegram.Bot`` and
a real ``Application`` polling the fake), so the bot code built on this fake meets the same
wire format, envelopes and exceptions it will meet in production.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
from typing import Any

import aiohttp
import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from tests.fakes.bot_api import (
    DEFAULT_BOT_USERNAME,
    FakeBotApi,
    InlineButton,
    UploadedFile,
)

USER = 111
OTHER_USER = 222
GROUP = -1001234567890


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    """One row of callback buttons."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in buttons]]
    )


async def raw_call(
    fake: FakeBotApi, method: str, *, token: str | None = None, **request: Any
) -> tuple[int, dict[str, Any]]:
    """One HTTP request without PTB: ``json=``, ``data=`` or ``params=`` as aiohttp takes them."""
    http_method = "GET" if set(request) <= {"params"} else "POST"
    url = f"{fake.base_url}{token or fake.token}/{method}"
    async with (
        aiohttp.ClientSession() as session,
        session.request(http_method, url, **request) as response,
    ):
        return response.status, await response.json()


# -- identity and wire format -----------------------------------------------------------------


async def test_get_me_names_the_bot_of_the_token(bot: Bot, bot_api: FakeBotApi) -> None:
    assert bot.username == DEFAULT_BOT_USERNAME
    assert bot.id == int(bot_api.token.split(":")[0])
    assert bot.bot.is_bot
    assert [call.method for call in bot_api.calls] == ["getMe"]


async def test_a_token_the_fake_was_not_made_with_is_unauthorized(bot_api: FakeBotApi) -> None:
    with pytest.raises(InvalidToken, match="was rejected by the server"):
        async with Bot("7000000001:not-the-token", base_url=bot_api.base_url):
            pass  # initialising fails; PTB then shuts the bot down itself

    status, body = await raw_call(bot_api, "getMe", token="123:other", json={})
    assert status == 401
    assert body == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert bot_api.calls == []


async def test_json_form_and_query_parameters_are_decoded_alike(bot_api: FakeBotApi) -> None:
    bot_api.add_user(USER)
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}

    as_json = await raw_call(
        bot_api, "sendMessage", json={"chat_id": USER, "text": "42", "reply_markup": markup}
    )
    # A form carries every non-string value JSON-encoded, exactly as PTB sends it.
    as_form = await raw_call(
        bot_api,
        "sendmessage",  # Telegram matches method names case-insensitively
        data={"chat_id": str(USER), "text": "true", "reply_markup": json.dumps(markup)},
    )
    as_query = await raw_call(bot_api, "sendMessage", params={"chat_id": USER, "text": "[1]"})

    for (status, body), text in zip(
        (as_json, as_form, as_query), ("42", "true", "[1]"), strict=True
    ):
        assert status == 200
        assert body["ok"] is True
        assert body["result"]["text"] == text  # string fields are never JSON-decoded
    assert [call.params["text"] for call in bot_api.calls_to("sendMessage")] == [
        "42",
        "true",
        "[1]",
    ]
    assert [call.params.get("reply_markup") for call in bot_api.calls] == [markup, markup, None]
    assert [call.chat_id for call in bot_api.calls] == [USER, USER, USER]


async def test_an_unknown_method_is_telegrams_404(bot_api: FakeBotApi) -> None:
    status, body = await raw_call(bot_api, "sendTelepathy", json={"chat_id": USER})

    assert status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert bot_api.unknown_methods == ["sendTelepathy"]


async def test_a_document_upload_arrives_as_multipart(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.add_user(USER)

    sent = await bot.send_document(
        USER, document=b"# Draft\n", filename="draft.md", caption="Export"
    )

    assert sent.document is not None
    assert sent.document.file_name == "draft.md"
    assert sent.caption == "Export"
    [call] = bot_api.calls_to("sendDocument")
    assert call.params["document"] == UploadedFile("draft.md", "text/markdown", b"# Draft\n")
    assert bot_api.last_text(USER) == "Export"


# -- sending and editing ----------------------------------------------------------------------


async def test_sent_messages_are_recorded_as_the_user_sees_them(
    bot: Bot, bot_api: FakeBotApi
) -> None:
    bot_api.add_user(USER, first_name="Sara")

    first = await bot.send_message(
        USER, "<b>Draft</b> ready", parse_mode=ParseMode.HTML, reply_markup=keyboard(("OK", "ok"))
    )
    second = await bot.send_message(USER, "Second")

    assert first.chat.id == USER and first.chat.first_name == "Sara"
    assert first.from_user is not None and first.from_user.id == bot.id
    assert first.date.timestamp() > 0
    assert first.text == "<b>Draft</b> ready"  # markup is stored, not rendered
    assert first.reply_markup == keyboard(("OK", "ok"))
    assert second.message_id == first.message_id + 1
    assert second.reply_markup is None
    assert [call.params["text"] for call in bot_api.sent(USER)] == ["<b>Draft</b> ready", "Second"]
    assert bot_api.sent(USER)[0].params["parse_mode"] == "HTML"
    assert bot_api.last_text(USER) == "Second"
    assert bot_api.buttons(USER, first.message_id) == [InlineButton("OK", callback_data="ok")]
    assert bot_api.sent(OTHER_USER) == []


async def test_edits_change_the_message_and_identical_edits_are_refused(
    bot: Bot, bot_api: FakeBotApi
) -> None:
    bot_api.add_user(USER)
    sent = await bot.send_message(USER, "Generating…", reply_markup=keyboard(("Stop", "stop")))
    where = {"chat_id": USER, "message_id": sent.message_id}

    edited = await bot.edit_message_text(
        "Generating… done", **where, reply_markup=keyboard(("Stop", "stop"))
    )
    assert isinstance(edited, Message)
    assert edited.edit_date is not None
    assert bot_api.last_text(USER) == "Generating… done"

    with pytest.raises(BadRequest, match=r"^Message is not modified"):
        await bot.edit_message_text(
            "Generating… done", **where, reply_markup=keyboard(("Stop", "stop"))
        )
    with pytest.raises(BadRequest, match=r"^Message is not modified"):
        await bot.edit_message_reply_markup(**where, reply_markup=keyboard(("Stop", "stop")))

    await bot.edit_message_reply_markup(**where, reply_markup=keyboard(("Again", "again")))
    assert bot_api.buttons(USER) == [InlineButton("Again", callback_data="again")]
    # As on Telegram, an edit without reply_markup takes the inline keyboard away.
    await bot.edit_message_text("Final text", **where)
    assert bot_api.buttons(USER) == []
    failed = [call for call in bot_api.calls if not call.ok]
    assert [(call.method, call.error_code) for call in failed] == [
        ("editMessageText", 400),
        ("editMessageReplyMarkup", 400),
    ]


async def test_only_existing_bot_messages_can_be_edited_or_deleted(
    bot: Bot, bot_api: FakeBotApi
) -> None:
    from_user = bot_api.user_sends_text(USER, "hello")
    sent = await bot.send_message(USER, "Hi!")

    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=sent.message_id + 50)
    with pytest.raises(BadRequest, match="Message can't be edited"):
        await bot.edit_message_text("x", chat_id=USER, message_id=from_user.message_id)

    assert await bot.delete_message(USER, sent.message_id) is True
    assert [m.text for m in bot_api.messages(USER)] == ["hello"]
    with pytest.raises(LookupError):
        bot_api.last_message(USER)
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(USER, sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=sent.message_id)


async def test_replies_point_at_the_message_they_answer(bot: Bot, bot_api: FakeBotApi) -> None:
    question = bot_api.user_sends_text(USER, "What can you do?")

    answer = await bot.send_message(USER, "Write posts.", reply_to_message_id=question.message_id)

    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "What can you do?"
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(USER, "?", reply_to_message_id=question.message_id + 50)


async def test_drafts_stream_only_into_private_chats(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.add_user(USER)
    bot_api.add_chat(GROUP)

    assert await bot.send_message_draft(USER, draft_id=7, text="Thinking about coffee") is True
    assert await bot.send_message_draft(USER, draft_id=7) is True  # empty: "Thinking…"
    with pytest.raises(BadRequest, match="private chats"):
        await bot.send_message_draft(GROUP, draft_id=7, text="x")
    with pytest.raises(BadRequest, match="non-zero"):
        await bot.send_message_draft(USER, draft_id=0, text="x")

    assert [c.params.get("text") for c in bot_api.sent(USER)] == ["Thinking about coffee", None]
    assert bot_api.messages(USER) == []  # a draft is not a message


async def test_a_delayed_answer_lets_the_client_time_out(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.add_user(USER)
    bot_api.delays["sendMessage"] = 5.0

    with pytest.raises(TimedOut):
        await bot.send_message(USER, "slow", read_timeout=0.05)


# -- Telegram's limits ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parse_mode"),
    [
        ("x" * 4096, None),
        ("ب" * 4096, None),  # Persian letters: still one character each
        ("<b>" + "x" * 4096 + "</b>", ParseMode.HTML),  # tags do not count
        ("<b>bold</b>, <i>i</i>, <a href='https://x.ir'>link</a> &lt;3", ParseMode.HTML),
        ('<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>', ParseMode.HTML),
        (r"Price: 5\.00\! `a.b` [site](https://x.ir/a-b) *bold*", ParseMode.MARKDOWN_V2),
    ],
)
async def test_texts_within_telegrams_rules_are_accepted(
    bot: Bot, bot_api: FakeBotApi, text: str, parse_mode: str | None
) -> None:
    bot_api.add_user(USER)

    sent = await bot.send_message(USER, text, parse_mode=parse_mode)

    assert sent.text == text


@pytest.mark.parametrize(
    ("text", "parse_mode", "error"),
    [
        ("x" * 4097, None, "Message is too long"),
        ("<b>" + "x" * 4097 + "</b>", ParseMode.HTML, "Message is too long"),
        ("", None, "Message text is empty"),
        (" \n ", None, "Message text is empty"),
        ("<b> </b>", ParseMode.HTML, "Message text is empty"),
        ("one<br>two", ParseMode.HTML, 'Can\'t parse entities: unsupported start tag "br"'),
        ("<p>para</p>", ParseMode.HTML, 'Can\'t parse entities: unsupported start tag "p"'),
        ("<b>bold", ParseMode.HTML, "Can't parse entities: can't find end tag"),
        ("<b>x</i>", ParseMode.HTML, "Can't parse entities: unmatched end tag"),
        ("<span>x</span>", ParseMode.HTML, 'Can\'t parse entities: tag "span" must have'),
        ("Price: 5.00", ParseMode.MARKDOWN_V2, "Can't parse entities: character '.' is reserved"),
        ("Wow!", ParseMode.MARKDOWN_V2, "Can't parse entities: character '!' is reserved"),
    ],
)
async def test_texts_telegram_refuses_raise_bad_request(
    bot: Bot, bot_api: FakeBotApi, text: str, parse_mode: str | None, error: str
) -> None:
    bot_api.add_user(USER)

    with pytest.raises(BadRequest) as caught:
        await bot.send_message(USER, text, parse_mode=parse_mode)

    # PTB drops "Bad Request: " and capitalises only the first letter of the rest.
    assert str(caught.value).startswith(error)
    assert bot_api.messages(USER) == []


@pytest.mark.parametrize(
    ("data", "accepted"),
    [
        ("a" * 64, True),
        ("a" * 65, False),
        ("ت" * 32, True),  # 64 bytes in UTF-8
        ("ت" * 33, False),  # 33 characters, but 66 bytes: the limit is in bytes
    ],
)
async def test_callback_data_is_limited_to_64_bytes(
    bot: Bot, bot_api: FakeBotApi, data: str, accepted: bool
) -> None:
    bot_api.add_user(USER)
    send = bot.send_message(USER, "Pick", reply_markup=keyboard(("Pick", data)))

    if accepted:
        await send
        assert bot_api.buttons(USER) == [InlineButton("Pick", callback_data=data)]
    else:
        with pytest.raises(BadRequest, match=r"^Button_data_invalid$"):
            await send


# -- failures ---------------------------------------------------------------------------------


async def test_injected_failures_become_ptbs_exceptions_once(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.add_user(USER)
    bot_api.fail_next("sendMessage", 429, retry_after=7)
    bot_api.fail_next("sendMessage", 403)
    bot_api.fail_next("editMessageText", 400, "Bad Request: message is not modified")

    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(USER, "one")
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "two")
    sent = await bot.send_message(USER, "three")
    with pytest.raises(BadRequest, match=r"^Message is not modified$"):
        await bot.edit_message_text("new", chat_id=USER, message_id=sent.message_id)

    assert flood.value.retry_after == dtm.timedelta(seconds=7)
    assert [(c.method, c.error_code) for c in bot_api.calls[1:]] == [
        ("sendMessage", 429),
        ("sendMessage", 403),
        ("sendMessage", None),
        ("editMessageText", 400),
    ]
    assert [m.text for m in bot_api.messages(USER)] == ["three"]  # failed calls changed nothing


async def test_a_flood_answer_carries_retry_after_on_the_wire(bot_api: FakeBotApi) -> None:
    bot_api.add_user(USER)
    bot_api.fail_next("sendMessage", 429, retry_after=5)

    status, body = await raw_call(bot_api, "sendMessage", json={"chat_id": USER, "text": "x"})

    assert status == 429
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 5",
        "parameters": {"retry_after": 5},
    }


async def test_fail_next_refuses_a_method_the_fake_does_not_know(bot_api: FakeBotApi) -> None:
    with pytest.raises(ValueError, match="sendMesage"):
        bot_api.fail_next("sendMesage", 429)


async def test_the_bot_may_write_only_to_chats_that_let_it(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.user_sends_text(OTHER_USER, "/start@contexor_test_bot", chat_id=GROUP)

    with pytest.raises(BadRequest, match=r"^Chat not found$"):
        await bot.send_message(999, "hello stranger")
    with pytest.raises(Forbidden, match="bot can't initiate conversation"):
        await bot.send_message(OTHER_USER, "seen only in the group")
    assert (await bot.send_message(GROUP, "hello group")).chat.type == "supergroup"

    bot_api.user_sends_text(USER, "/start")
    bot_api.user_blocks_bot(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_chat_action(USER, "typing")
    bot_api.user_sends_text(USER, "I'm back")  # writing again means unblocking
    assert await bot.send_chat_action(USER, "typing") is True


# -- the user's side: updates -----------------------------------------------------------------


async def test_commands_arrive_with_entities_ptb_can_read(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.user_sends_text(USER, "سلام 😀 /help now", first_name="Sara", language_code="en")
    bot_api.user_sends_text(OTHER_USER, "/start@contexor_test_bot abc", chat_id=GROUP)

    private, group = await bot.get_updates(timeout=0)

    assert private.effective_user is not None
    assert private.effective_user.first_name == "Sara"
    assert private.effective_user.language_code == "en"
    assert private.effective_chat is not None and private.effective_chat.type == "private"
    assert private.message is not None and group.message is not None
    # Offsets are UTF-16 code units: PTB cuts exactly "/help" out of Persian text and an emoji.
    assert list(private.message.parse_entities().values()) == ["/help"]
    assert list(group.message.parse_entities().values()) == ["/start@contexor_test_bot"]
    assert group.message.chat.id == GROUP


async def test_button_presses_become_callback_queries_answered_once(
    bot: Bot, bot_api: FakeBotApi
) -> None:
    bot_api.add_user(USER)
    sent = await bot.send_message(
        USER, "Approve?", reply_markup=keyboard(("Yes", "approve:7"), ("No", "reject:7"))
    )
    stored = bot_api.last_message(USER)

    by_data = bot_api.user_presses(USER, sent.message_id, "approve:7")
    by_text = bot_api.user_presses(USER, stored, button_text="No")
    forged = bot_api.user_presses(USER, stored, "approve:8", forged=True)
    updates = await bot.get_updates(timeout=0)

    queries = [update.callback_query for update in updates]
    assert [(q.id, q.data) for q in queries if q] == [
        (by_data, "approve:7"),
        (by_text, "reject:7"),
        (forged, "approve:8"),
    ]
    first = queries[0]
    assert first is not None and first.from_user.id == USER
    assert first.message is not None and first.message.message_id == sent.message_id
    assert first.message.is_accessible  # a non-zero date: not an InaccessibleMessage

    assert await bot.answer_callback_query(by_data, text="Approved") is True
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(by_data)
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query("123")
    assert bot_api.callback_answers == {by_data: {"text": "Approved"}}


async def test_pressing_a_button_the_message_does_not_offer_is_a_test_mistake(
    bot: Bot, bot_api: FakeBotApi
) -> None:
    bot_api.add_user(USER)
    sent = await bot.send_message(USER, "Approve?", reply_markup=keyboard(("Yes", "yes")))
    from_user = bot_api.user_sends_text(USER, "hi")

    with pytest.raises(ValueError, match="no button"):
        bot_api.user_presses(USER, sent.message_id, "no")
    with pytest.raises(ValueError, match="no button"):
        bot_api.user_presses(USER, sent.message_id, button_text="No")
    with pytest.raises(ValueError, match="not the bot's"):
        bot_api.user_presses(USER, from_user, "yes")
    with pytest.raises(ValueError, match="exactly one"):
        bot_api.user_presses(USER, sent.message_id)


@pytest.mark.parametrize(("own", "forwarded"), [(True, False), (False, False), (True, True)])
async def test_shared_contacts_say_whose_number_it_is(
    bot: Bot, bot_api: FakeBotApi, own: bool, forwarded: bool
) -> None:
    bot_api.user_shares_contact(USER, "+989121234567", own=own, forwarded=forwarded)

    [update] = await bot.get_updates(timeout=0)

    message = update.message
    assert message is not None and message.contact is not None
    assert message.contact.phone_number == "+989121234567"
    assert (message.contact.user_id == USER) is own
    assert message.from_user is not None and message.from_user.id == USER
    assert (message.forward_origin is not None) is forwarded


async def test_get_updates_confirms_by_offset_and_honours_limit(
    bot: Bot, bot_api: FakeBotApi
) -> None:
    for text in ("one", "two", "three", "four"):
        bot_api.user_sends_text(USER, text)

    first_two = await bot.get_updates(limit=2, timeout=0)
    again = await bot.get_updates(timeout=0)  # nothing confirmed yet
    rest = await bot.get_updates(offset=first_two[-1].update_id + 1, timeout=0)
    last_only = await bot.get_updates(offset=-1, timeout=0)

    assert [u.message.text for u in first_two if u.message] == ["one", "two"]
    assert len(again) == 4
    assert [u.message.text for u in rest if u.message] == ["three", "four"]
    assert [u.message.text for u in last_only if u.message] == ["four"]
    await bot.get_updates(offset=last_only[-1].update_id + 1, timeout=0)
    assert bot_api.pending_updates == 0


async def test_allowed_updates_drop_other_kinds_and_persist(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.add_user(USER)
    sent = await bot.send_message(USER, "Pick", reply_markup=keyboard(("Go", "go")))
    bot_api.user_presses(USER, sent.message_id, "go")
    bot_api.user_sends_text(USER, "text")

    only_messages = await bot.get_updates(timeout=0, allowed_updates=["message"])
    bot_api.user_presses(USER, sent.message_id, "go")
    still_only_messages = await bot.get_updates(timeout=0)  # the setting is remembered

    assert [u.message.text for u in only_messages if u.message] == ["text"]
    assert len(only_messages) == 1
    assert [u.message.text for u in still_only_messages if u.message] == ["text"]  # unconfirmed
    assert len(still_only_messages) == 1


async def test_a_held_long_poll_wakes_when_an_update_arrives(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.max_poll_seconds = 30  # if waking were broken the poll would expire, not return
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await bot_api.wait_until(lambda: bot_api.waiting_polls == 1, what="a held poll")

    bot_api.user_sends_text(USER, "wake up")
    updates = await poll

    assert [u.message.text for u in updates if u.message] == ["wake up"]
    assert bot_api.expired_polls == 0


async def test_a_newer_poll_terminates_the_held_one_with_409(bot_api: FakeBotApi) -> None:
    bot_api.max_poll_seconds = 30
    async with (
        Bot(bot_api.token, base_url=bot_api.base_url) as first,
        Bot(bot_api.token, base_url=bot_api.base_url) as second,
    ):
        held = asyncio.create_task(first.get_updates(timeout=30))
        await bot_api.wait_until(lambda: bot_api.waiting_polls == 1, what="a held poll")

        assert await second.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await held


async def test_stopping_the_fake_answers_a_held_poll_cleanly() -> None:
    async with FakeBotApi() as fake:
        fake.max_poll_seconds = 30
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            poll = asyncio.create_task(bot.get_updates(timeout=30))
            await fake.wait_until(lambda: fake.waiting_polls == 1, what="a held poll")
            await fake.__aexit__(None, None, None)  # stop now; the outer exit is then a no-op
            # Cut off at shutdown instead, PTB would raise NetworkError here.
            assert await poll == ()
    assert fake.expired_polls == 0


# -- webhook, commands, chats -----------------------------------------------------------------


async def test_a_webhook_blocks_polling_until_deleted(bot: Bot, bot_api: FakeBotApi) -> None:
    with pytest.raises(BadRequest, match=r"(?i)an https url must be provided"):
        await bot.set_webhook("http://insecure.example/hook")
    assert await bot.set_webhook("https://bot.example/hook", secret_token="s3cret") is True

    info = await bot.get_webhook_info()
    assert info.url == "https://bot.example/hook"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates(timeout=0)

    bot_api.user_sends_text(USER, "pending")
    assert await bot.delete_webhook(drop_pending_updates=True) is True
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.get_updates(timeout=0) == ()


async def test_command_menus_are_kept_per_language(bot: Bot, bot_api: FakeBotApi) -> None:
    fa = [BotCommand("start", "شروع"), BotCommand("new", "متن تازه")]
    assert await bot.set_my_commands(fa, language_code="fa") is True
    assert await bot.set_my_commands([BotCommand("start", "Start")]) is True

    assert await bot.get_my_commands(language_code="fa") == tuple(fa)
    assert await bot.get_my_commands() == (BotCommand("start", "Start"),)
    assert bot_api.commands(language_code="fa") == [
        {"command": "start", "description": "شروع"},
        {"command": "new", "description": "متن تازه"},
    ]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Start-Now", "bad")])
    assert await bot.delete_my_commands(language_code="fa") is True
    assert await bot.get_my_commands(language_code="fa") == ()


async def test_get_chat_and_chat_actions(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.add_user(USER, first_name="Sara", username="sara_writes")
    bot_api.add_chat(GROUP, title="Review desk", username="contexor_review")

    private = await bot.get_chat(USER)
    group = await bot.get_chat(GROUP)
    by_username = await bot.get_chat("@contexor_review")

    assert (private.type, private.first_name, private.username) == (
        "private",
        "Sara",
        "sara_writes",
    )
    assert (group.type, group.title) == ("supergroup", "Review desk")
    assert by_username.id == GROUP
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.get_chat("@sara_writes")  # users are not reachable by @username
    assert await bot.send_chat_action(GROUP, "typing") is True
    with pytest.raises(BadRequest, match="Wrong parameter action"):
        await bot.send_chat_action(GROUP, "dancing")


# -- waiting ----------------------------------------------------------------------------------


async def test_wait_for_calls_returns_matching_calls_or_says_what_it_saw(
    bot: Bot, bot_api: FakeBotApi
) -> None:
    bot_api.add_user(USER)
    bot_api.add_user(OTHER_USER)
    await bot.send_message(OTHER_USER, "first")
    await bot.send_message(USER, "second")

    calls = await bot_api.wait_for_calls("sendMessage", 1, chat_id=USER)
    assert [call.params["text"] for call in calls] == ["second"]

    with pytest.raises(TimeoutError, match=r"1 editMessageText call\(s\).*sendMessage×2"):
        await bot_api.wait_for_calls("editMessageText", timeout=0.05)


# -- a whole Application ----------------------------------------------------------------------


async def test_a_real_application_replies_to_start_and_edits_on_a_press(
    bot_api: FakeBotApi,
) -> None:
    errors: list[object] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(
            "Draft 1 is ready.", reply_markup=keyboard(("Approve", "approve:1"))
        )

    async def approve(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Approved")
        await query.edit_message_text(f"Draft 1 approved by {query.from_user.first_name}.")

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    application = (
        ApplicationBuilder()
        .token(bot_api.token)
        .base_url(bot_api.base_url)
        .base_file_url(bot_api.base_file_url)
        .build()
    )
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(approve, pattern=r"^approve:"))
    application.add_error_handler(on_error)
    updater = application.updater
    assert updater is not None

    async with application:
        await application.start()
        await updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=5))
        try:
            bot_api.user_sends_text(USER, "/start", first_name="Sara")
            await bot_api.wait_for_calls("sendMessage", chat_id=USER)
            query_id = bot_api.user_presses(USER, bot_api.last_message(USER), button_text="Approve")
            await bot_api.wait_for_calls("editMessageText", chat_id=USER)
        finally:
            await updater.stop()
            await application.stop()

    assert errors == []
    assert [call.method for call in bot_api.sent(USER)] == ["sendMessage", "editMessageText"]
    assert bot_api.callback_answers == {query_id: {"text": "Approved"}}
    assert bot_api.last_text(USER) == "Draft 1 approved by Sara."
    assert bot_api.buttons(USER) == []
    assert [m.text for m in bot_api.messages(USER)] == ["/start", "Draft 1 approved by Sara."]
    assert bot_api.calls_to("deleteWebhook")  # PTB always clears a webhook before polling
    assert bot_api.pending_updates == 0  # the shutdown poll confirmed everything
