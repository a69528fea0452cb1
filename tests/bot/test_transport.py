"""The bot's aiohttp transport (``bot/transport.py``) keeps PTB's ``HTTPXRequest`` contract."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.transport import AiohttpRequest
from tests.fakes.bot_api import DEFAULT_BOT_USERNAME, FakeBotApi, UploadedFile
from tests.support.proxy import CuttableProxy

USER = 880_001


def _bot(url: str, token: str, **timeouts: float) -> Bot:
    return Bot(
        token,
        base_url=f"{url}/bot",
        base_file_url=f"{url}/file/bot",
        request=AiohttpRequest(connection_pool_size=4, **timeouts),
    )


@pytest.fixture
async def bot(bot_api: FakeBotApi) -> AsyncIterator[Bot]:
    async with _bot(bot_api.url, bot_api.token) as client:
        yield client


async def test_a_text_with_a_keyboard_arrives_as_sent(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.add_user(USER)
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton("ادامه در «پروژه»", callback_data="x:1")]]
    )

    sent = await bot.send_message(USER, "سلام & <خوش آمدید> ۱۲۳", reply_markup=keyboard)

    assert sent.text == "سلام & <خوش آمدید> ۱۲۳" and sent.chat.id == USER
    [message] = bot_api.messages(USER, from_bot=True)
    assert message.text == "سلام & <خوش آمدید> ۱۲۳"
    assert [(b.text, b.callback_data) for b in message.buttons] == [("ادامه در «پروژه»", "x:1")]
    [call] = bot_api.calls_to("sendMessage")
    assert call.params["chat_id"] == USER  # a number, as sent


async def test_a_document_upload_arrives_as_multipart(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.add_user(USER)

    sent = await bot.send_document(USER, document=b"# Draft\n", filename="d.md", caption="خروجی")

    assert sent.caption == "خروجی"
    [call] = bot_api.calls_to("sendDocument")
    assert call.params["document"] == UploadedFile("d.md", "text/markdown", b"# Draft\n")


async def test_the_bot_api_refusal_is_a_telegram_error(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.add_user(USER)
    with pytest.raises(BadRequest, match=r"(?i)text is empty"):
        await bot.send_message(USER, "")


async def test_a_slow_answer_times_out(bot: Bot, bot_api: FakeBotApi) -> None:
    bot_api.add_user(USER)
    bot_api.delays["sendMessage"] = 5.0
    with pytest.raises(TimedOut):
        await bot.send_message(USER, "slow", read_timeout=0.05)
    bot_api.delays["sendMessage"] = 0.0
    assert (await bot.send_message(USER, "fast")).text == "fast"  # the pool recovered


async def test_the_default_read_timeout_applies(bot_api: FakeBotApi) -> None:
    bot_api.add_user(USER)
    async with _bot(bot_api.url, bot_api.token, read_timeout=0.05) as client:
        assert client.request.read_timeout == 0.05
        bot_api.delays["sendMessage"] = 5.0
        with pytest.raises(TimedOut):
            await client.send_message(USER, "slow")


async def test_nobody_listening_is_a_network_error(bot_api: FakeBotApi) -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = _bot(f"http://127.0.0.1:{port}", bot_api.token)
    await client.request.initialize()
    try:
        with pytest.raises(NetworkError) as raised:
            await client.get_me()
        assert not isinstance(raised.value, TimedOut)
    finally:
        await client.request.shutdown()


async def test_the_proxy_of_the_environment_is_used(bot_api: FakeBotApi, monkeypatch) -> None:
    proxy = CuttableProxy("127.0.0.1", urlsplit(bot_api.url).port)
    await proxy.start()
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    try:
        # The host does not resolve: only the proxy reaches the fake.
        async with _bot("http://api.telegram.invalid", bot_api.token) as client:
            assert (await client.get_me()).username == DEFAULT_BOT_USERNAME
    finally:
        await proxy.cut()


async def test_no_proxy_of_the_environment_goes_direct(bot_api: FakeBotApi, monkeypatch) -> None:
    for name in ("no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens: never used
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with _bot(bot_api.url, bot_api.token) as client:
        assert (await client.get_me()).username == DEFAULT_BOT_USERNAME
