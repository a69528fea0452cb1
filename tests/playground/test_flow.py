"""The playground page's own endpoints drive the product's main job end to end: link, /new,
answers, generate, download, submit; the editor, switched to on the same page, sees it in review.
"""

from __future__ import annotations

import aiohttp

from bot.texts import t
from core.demo import DEMO_ORGANIZATION, DEMO_PEOPLE
from core.prompt_library import builtin_prompts
from db.models import Content, ContentStatus, Membership, Organization, Role
from tests.playground.conftest import RunningPlayground
from tests.playground.page import PagePerson, bot_texts, buttons_of, last_bot_text

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
        assert playground.playground.api.calls_to("sendMessageDraft")  # streamed as a draft

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
