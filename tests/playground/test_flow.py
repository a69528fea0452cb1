"""The playground page's own endpoints drive the product's main job end to end: link, /new,
answers, generate, download, submit; the editor, switched to on the same page, approves it
from the review card, and the writer hears of it.
"""

from __future__ import annotations

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, ReplyKeyboardMarkup

from bot.texts import t
from core.demo import DEMO_ORGANIZATION, DEMO_PEOPLE
from core.presentation import display_name
from core.prompt_library import builtin_prompts
from db.models import Content, ContentStatus, Membership, Organization, Role, User
from tests.playground.conftest import RunningPlayground
from tests.playground.page import PagePerson, bot_texts, buttons_of, last_bot_text

pytestmark = pytest.mark.sqlite  # the playground is the embedded default: SQLite, no Redis
FA = "fa"
PROMPT_TITLE = next(p.title for p in builtin_prompts() if p.key == "newsletter_email.fa")
TOPIC = "قهوهٔ دمی در خانه"
NAVIGATION = {t(FA, "bot.button.back"), t(FA, "bot.button.cancel")}


def demo(role: Role) -> int:
    return next(person.telegram_id for person in DEMO_PEOPLE if person.role is role)


async def link(person: PagePerson, role: Role) -> None:
    """/start, share the phone, type the code the page shows: the main menu for the role."""
    await person.send("/start")
    keyboard = await person.until(lambda s: bool(s["reply_keyboard"]), "the share-phone button")
    assert keyboard["reply_keyboard"][0][0]["request_contact"] is True
    await person.share_contact()
    with_code = await person.until(lambda s: bool(s["sms_code"]), "the SMS code on the page")
    code = with_code["sms_code"]
    assert len(code) == 6 and code.isdigit()
    await person.send(code)
    home = t(FA, f"bot.home.title.{role.value}")
    await person.until(lambda s: home in bot_texts(s), f"the {role.value}'s main menu")


async def test_seeded_organisation_is_idempotent(playground: RunningPlayground) -> None:
    await playground.playground.seed()  # a second start
    organisation = await Organization.get(name=DEMO_ORGANIZATION)
    roles = sorted(m.role.value for m in await Membership.filter(organization_id=organisation.id))
    assert roles == ["admin", "editor", "writer"]
    assert await Organization.all().count() == 1


async def test_the_whole_flow_through_the_page(playground: RunningPlayground) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{playground.url}/playground") as page:
            assert page.status == 200 and "text/html" in page.headers["Content-Type"]
            assert "http://" not in (html := await page.text()) and "https://" not in html
        async with session.get(f"{playground.url}/playground/api/people") as people:
            directory = await people.json()
        assert [p["phone"] for p in directory["people"]] == [p.phone for p in DEMO_PEOPLE]
        writer = PagePerson(session, playground.url, demo(Role.WRITER))
        editor = PagePerson(session, playground.url, demo(Role.EDITOR))
        await link(editor, Role.EDITOR)  # linked first, so the review notification reaches them
        await link(writer, Role.WRITER)

        await writer.send("/new")
        pick = t(FA, "bot.new.pick_workspace")
        snapshot = await writer.until(lambda s: last_bot_text(s) == pick, "the workspace picker")
        await writer.press(buttons_of(snapshot)[0])
        pick = t(FA, "bot.new.pick_project")
        snapshot = await writer.until(lambda s: last_bot_text(s) == pick, "the project picker")
        await writer.press(buttons_of(snapshot)[0])
        pick = t(FA, "bot.new.pick_prompt")
        snapshot = await writer.until(lambda s: last_bot_text(s) == pick, "the prompt picker")
        await writer.press(next(b for b in buttons_of(snapshot) if PROMPT_TITLE in b))

        # The newsletter's five questions: two typed, then the default, a choice and Skip.
        generate = t(FA, "bot.vars.generate")
        for number in range(1, 6):
            progress = t(FA, "bot.vars.progress", current=number, total=5)
            snapshot = await writer.until(lambda s, p=progress: p in last_bot_text(s), progress)
            offered = [b for b in buttons_of(snapshot) if b not in NAVIGATION]
            if offered:
                await writer.press(offered[0])
            else:
                await writer.send(TOPIC)
        await writer.until(lambda s: generate in buttons_of(s), "the summary")
        await writer.press(generate)
        draft_kind = t(FA, "bot.gen.kind.draft")
        submit = t(FA, "bot.gen.submit")
        snapshot = await writer.until(
            lambda s: draft_kind in buttons_of(s) or submit in buttons_of(s), "the generation"
        )
        if draft_kind in buttons_of(snapshot):
            await writer.press(draft_kind)
            await writer.until(lambda s: submit in buttons_of(s), "the generated draft")

        await writer.press(t(FA, "bot.gen.export_md"))
        snapshot = await writer.until(
            lambda s: any(m["document"] for m in s["messages"]), "the exported file"
        )
        document = next(m["document"] for m in snapshot["messages"] if m["document"])
        disposition, data = await writer.download(document["file_id"])
        assert document["name"].endswith(".md") and document["name"] in disposition
        assert data.decode("utf-8").strip()

        await writer.press(submit)
        submitted = t(FA, "bot.gen.submitted")
        await writer.until(lambda s: any(submitted in x for x in bot_texts(s)), "submitted")
        content = await Content.get()
        assert content.status == ContentStatus.REVIEW

        # The editor, switched to on the same page, has the review notification.
        heading = t(FA, "outbox.content_submitted").split("\n", 1)[0]
        await editor.until(
            lambda s: any(x.startswith(heading) for x in bot_texts(s)), "the review notification"
        )
        # ... and approves it from the card's button; the card loses its buttons.
        await editor.press(t(FA, "bot.review.approve"))
        await editor.until(
            lambda s: t(FA, "bot.review.approve") not in buttons_of(s), "the card closed"
        )
        await content.refresh_from_db()
        assert content.status == ContentStatus.APPROVED
        decider = await User.get(telegram_link__telegram_user_id=demo(Role.EDITOR))
        approved = t(
            FA, "outbox.content_approved", title=content.title, decided_by=display_name(decider)
        )
        await writer.until(lambda s: approved in bot_texts(s), "the writer told of the approval")


async def test_the_page_shows_drafts_edits_keyboards_and_files(
    playground: RunningPlayground,
) -> None:
    """What the bot sends through the local Bot API, as the page's chat endpoint shows it."""
    api = playground.playground.api
    writer = demo(Role.WRITER)
    api.add_user(writer)  # the chat is open, with no update for the running bot
    async with (
        Bot(api.token, base_url=api.base_url, base_file_url=api.base_file_url) as bot,
        aiohttp.ClientSession() as session,
    ):
        page = PagePerson(session, playground.url, writer)
        await bot.send_message_draft(writer, 7, "نیمهٔ راه")
        assert (await page.chat())["draft"] == "نیمهٔ راه"
        sent = await bot.send_message(
            writer,
            "<b>تمام</b>",
            parse_mode="HTML",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("الف", callback_data="a")]]),
        )
        chat = await page.chat()
        assert chat["draft"] is None
        assert chat["messages"][-1] | {"id": 0} == {
            "id": 0,
            "from_bot": True,
            "text": "<b>تمام</b>",
            "html": True,
            "edited": False,
            "contact": None,
            "document": None,
            "buttons": [[{"text": "الف", "data": "a", "url": None}]],
        }
        await bot.edit_message_text("ویرایش شد", writer, sent.message_id)
        edited = (await page.chat())["messages"][-1]
        assert (edited["text"], edited["edited"], edited["buttons"]) == ("ویرایش شد", True, [])

        keyboard = ReplyKeyboardMarkup([["یک", "دو"]], one_time_keyboard=True)
        await bot.send_message(writer, "کدام؟", reply_markup=keyboard)
        assert [b["text"] for b in (await page.chat())["reply_keyboard"][0]] == ["یک", "دو"]
        # A one-time keyboard hides once used (read at once: the running bot answers "یک" later).
        api.user_sends_text(writer, "یک")
        assert api.reply_keyboard(writer) is None

        document = await bot.send_document(writer, InputFile(b"# hi", filename="draft.md"))
        messages = (await page.chat())["messages"]
        shown = next(m["document"] for m in messages if m["document"])
        assert shown == {"file_id": document.document.file_id, "name": "draft.md"}
        disposition, data = await page.download(shown["file_id"])
        assert data == b"# hi" and 'filename="draft.md"' in disposition
        telegram_file = await bot.get_file(shown["file_id"])
        assert bytes(await telegram_file.download_as_bytearray()) == b"# hi"


async def test_the_page_refuses_what_no_person_could_do(playground: RunningPlayground) -> None:
    base = f"{playground.url}/playground/api"
    async with aiohttp.ClientSession() as session:
        for path, body in [
            ("send", {"user": 1, "text": "hi"}),  # no such demo person
            ("send", {"user": demo(Role.WRITER), "text": ""}),
            ("send", {"user": demo(Role.WRITER), "text": "x" * 4097}),
            ("press", {"user": demo(Role.WRITER), "message_id": 1, "data": "forged"}),
        ]:
            async with session.post(f"{base}/{path}", json=body) as response:
                assert response.status == 400 and "error" in await response.json()
        async with session.post(f"{base}/send", data="[") as response:
            assert response.status == 400
        async with session.get(f"{base}/files/nothing") as response:
            assert response.status == 404
