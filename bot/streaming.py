"""Streaming a generation into a chat without meeting Telegram's flood limits.

``stream_answer`` runs as its own task (``Application.create_task``), never inside the user's
update lock, so ``/cancel`` and other presses are handled while a draft streams. It watches the
job through ``GenerationService.watch`` (the generation keeps its own slots; this task only
reads a queue), shows "typing…" until the first text, then shows the text so far:

- in a private chat with ``sendMessageDraft`` (Bot API 9.3), the streaming preview Telegram
  offers there; if the server refuses the method, the bot falls back to editing for good;
- otherwise by sending one message and editing it.

Either way a chat gets at most one streamed update per :data:`STREAM_INTERVAL` seconds
(``ChatPacer``; Telegram allows about one message a second per chat), so no 429 is provoked.
The task belongs to the Application (``create_task``), so stopping the bot waits for the
streams in flight, each bounded by the model's timeout. At the end the text is shown formatted
(escaped HTML), split at paragraph boundaries, or as a ``.md`` document when long, with the
next steps as buttons.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telegram import InlineKeyboardMarkup, InputFile
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.ext import Application

from bot import formatting
from bot.texts import t
from core.container import Services
from core.security.principal import Principal
from core.services.generation import JobEnded, TextArrived

logger = logging.getLogger("contexor.bot.streaming")

STREAM_INTERVAL = 1.0
PACER = "chat_pacer"
DRAFTS_OFF = "drafts_unsupported"
TYPING_SECONDS = 4.5
TYPING_REPEATS = 40  # about three minutes; the model call times out before that


class ChatPacer:
    """At most one streamed send or edit per chat per ``interval`` seconds (monotonic)."""

    def __init__(self, interval: float = STREAM_INTERVAL) -> None:
        self.interval = interval
        self._last: dict[int, float] = {}

    def ready(self, chat_id: int) -> bool:
        last = self._last.get(chat_id)
        return last is None or asyncio.get_running_loop().time() - last >= self.interval

    def mark(self, chat_id: int) -> None:
        self._last[chat_id] = asyncio.get_running_loop().time()

    async def wait(self, chat_id: int) -> None:
        last = self._last.get(chat_id)
        if last is not None:
            delay = last + self.interval - asyncio.get_running_loop().time()
            if delay > 0:
                await asyncio.sleep(delay)
        self.mark(chat_id)

    def forget(self, chat_id: int) -> None:
        self._last.pop(chat_id, None)


def pacer_of(application: Application) -> ChatPacer:
    pacer = application.bot_data.get(PACER)
    if pacer is None:
        pacer = application.bot_data[PACER] = ChatPacer()
    return pacer


class _Screen:
    """Where the streamed text shows: a draft preview, or one message edited in place."""

    def __init__(self, application: Application, chat_id: int, draft_id: int, private: bool):
        self.application = application
        self.bot = application.bot
        self.chat_id = chat_id
        self.draft_id = draft_id
        self.drafts = private and not application.bot_data.get(DRAFTS_OFF)
        self.message_id: int | None = None
        self.shown = ""
        self.pacer = pacer_of(application)

    async def update(self, text: str) -> None:
        preview = formatting.streaming_preview(text)
        if preview == self.shown:
            return
        self.pacer.mark(self.chat_id)
        if self.drafts:
            try:
                await self.bot.send_message_draft(self.chat_id, self.draft_id, preview)
                self.shown = preview
                return
            except RetryAfter:
                return  # the pacer should prevent it; skip this frame
            except TelegramError as exc:
                logger.info("sendMessageDraft unavailable (%s); editing messages instead", exc)
                self.application.bot_data[DRAFTS_OFF] = True
                self.drafts = False
        try:
            if self.message_id is None:
                message = await self.bot.send_message(self.chat_id, preview)
                self.message_id = message.message_id
            else:
                await self.bot.edit_message_text(preview, self.chat_id, self.message_id)
            self.shown = preview
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise
        except RetryAfter:
            pass

    async def final(
        self, html_text: str, markup: InlineKeyboardMarkup | None, *, plain: bool = False
    ) -> None:
        """Replace the streaming message (edit mode) or send the final one (draft mode)."""
        await self.pacer.wait(self.chat_id)
        mode = None if plain else ParseMode.HTML
        if self.message_id is not None:
            await self.bot.edit_message_text(
                html_text, self.chat_id, self.message_id, parse_mode=mode, reply_markup=markup
            )
        else:
            await self.bot.send_message(
                self.chat_id, html_text, parse_mode=mode, reply_markup=markup
            )

    async def drop(self) -> None:
        """Remove the streaming message (the answer follows as a document)."""
        if self.message_id is not None:
            try:
                await self.bot.delete_message(self.chat_id, self.message_id)
            except TelegramError:
                logger.info("could not delete streaming message %s", self.message_id)
            self.message_id = None


async def stream_answer(
    application: Application,
    services: Services,
    *,
    actor: Principal,
    chat_id: int,
    private: bool,
    language: str,
    job_id: int,
    content_id: int,
    final_buttons: Any,
    failed_buttons: Any,
) -> None:
    """Show job ``job_id`` in ``chat_id`` as it is written, then its outcome."""
    screen = _Screen(application, chat_id, draft_id=job_id, private=private)
    try:
        events = await services.generation.watch(actor=actor, job_id=job_id)
        await application.bot.send_chat_action(chat_id, ChatAction.TYPING)
        typing = asyncio.create_task(_keep_typing(application, chat_id))
        text = ""
        end: JobEnded | None = None
        try:
            async for event in events:
                typing.cancel()
                if isinstance(event, TextArrived):
                    text += event.text
                    if screen.pacer.ready(chat_id):
                        await screen.update(text)
                else:
                    end = event
        finally:
            typing.cancel()
        assert end is not None
        if end.ok:
            await _show_answer(screen, services, actor, language, content_id, final_buttons)
        else:
            key = {
                "llm_unavailable": "bot.gen.model_failed",
                "generation_cancelled": "bot.gen.cancelled",
            }.get(end.error or "", "bot.gen.failed")
            await screen.final(t(language, key), failed_buttons, plain=True)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("streaming job %s to chat %s failed", job_id, chat_id)
        with contextlib.suppress(TelegramError):
            await application.bot.send_message(chat_id, t(language, "bot.error.internal"))


async def _keep_typing(application: Application, chat_id: int) -> None:
    """ "typing…" until the first text (Telegram shows one action for about 5 seconds)."""
    for _ in range(TYPING_REPEATS):
        await asyncio.sleep(TYPING_SECONDS)
        try:
            await application.bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramError:
            return


async def _show_answer(
    screen: _Screen,
    services: Services,
    actor: Principal,
    language: str,
    content_id: int,
    buttons: InlineKeyboardMarkup,
) -> None:
    content = await services.content.get(actor=actor, content_id=content_id)
    body = content.body
    if formatting.fits_in_messages(body):
        parts = formatting.split_paragraphs(body)
        for number, part in enumerate(parts):
            markup = buttons if number == len(parts) - 1 else None
            if number == 0:
                await screen.final(formatting.as_html(part), markup)
            else:
                await screen.pacer.wait(screen.chat_id)
                await screen.bot.send_message(
                    screen.chat_id,
                    formatting.as_html(part),
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                )
        return
    await screen.drop()
    await screen.pacer.wait(screen.chat_id)
    document = InputFile(body.encode("utf-8"), filename=f"contexor-{content.id}.md")
    await screen.bot.send_document(
        screen.chat_id,
        document,
        caption=t(language, "bot.gen.as_document", title=content.title[:200]),
        reply_markup=buttons,
    )
