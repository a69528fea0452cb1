"""/drafts through the real bot: paging, reading, editing, submitting, deleting, forged data."""

from __future__ import annotations

from db.models import Content, ContentStatus, ContentVersion, Role
from tests.bot.harness import BotHarness
from tests.support.factories import make_content, principal_for


async def test_drafts_are_paged_eight_at_a_time_and_only_the_writers_own(
    harness: BotHarness,
) -> None:
    writer = await harness.linked_user(Role.WRITER)
    other = await harness.linked_user(Role.WRITER)
    for n in range(10):
        await make_content(harness.project, writer.user, title=f"Mine {n}", body="some words")
    await make_content(harness.project, other.user, title="Not mine")
    text = await writer.send("/drafts")
    assert text == harness.t("bot.drafts.title", count=10)
    status = harness.t("bot.status.draft")
    titles = [b for b in writer.buttons if b.endswith(status)]
    assert titles == [f"Mine {n} · {status}" for n in range(9, 1, -1)]
    assert "۱/۲" in writer.buttons
    await writer.press(harness.t("bot.button.next"))
    assert [b for b in writer.buttons if b.endswith(status)] == [
        f"Mine {n} · {status}" for n in (1, 0)
    ]
    assert all(len(b.callback_data.encode()) <= 64 for b in writer.last_message.buttons)


async def test_open_edit_body_makes_a_new_version_then_submit(harness: BotHarness) -> None:
    writer = await harness.linked_user(Role.WRITER)
    content = await harness.services.content.create(
        actor=await principal_for(writer.user),
        project_id=harness.project.id,
        title="Plan",
        body="old text",
    )
    await writer.send("/drafts")
    text = await writer.press(f"Plan · {harness.t('bot.status.draft')}")
    assert "old text" in text and "«Plan»" in text
    await writer.press(harness.t("bot.drafts.button.edit_body"))
    assert writer.last_text == harness.t("bot.drafts.send_body", title="Plan")
    await writer.send("new text written in Telegram")
    assert harness.t("bot.drafts.saved", version=2) in writer.texts
    await content.refresh_from_db()
    assert content.body == "new text written in Telegram"
    assert await ContentVersion.filter(content_id=content.id).count() == 2
    await writer.press(harness.t("bot.drafts.button.submit"))
    await content.refresh_from_db()
    assert content.status == ContentStatus.REVIEW
    assert harness.t("bot.drafts.submitted") in writer.toasts


async def test_edit_title_and_delete(harness: BotHarness) -> None:
    writer = await harness.linked_user(Role.WRITER, language="en")
    content = await harness.services.content.create(
        actor=await principal_for(writer.user),
        project_id=harness.project.id,
        title="Old",
        body="text",
    )
    await writer.send("/drafts")
    await writer.press("Old · draft")
    await writer.press("✏️ Edit title")
    await writer.send("New title")
    await content.refresh_from_db()
    assert content.title == "New title"
    await writer.press("🗑 Delete")
    assert writer.last_text == "Delete “New title”?"
    await writer.press("Yes, delete it")
    await content.refresh_from_db()
    assert content.deleted_at is not None
    assert writer.last_text == harness.t("bot.drafts.empty", "en")


async def test_forged_content_id_is_refused_in_core(harness: BotHarness) -> None:
    writer = await harness.linked_user(Role.WRITER)
    mine = await make_content(harness.project, writer.user, title="Mine")
    stranger = await harness.linked_user(Role.WRITER, org=None)
    from tests.support.factories import make_org, make_project, make_workspace

    other_org = await make_org()
    other_project = await make_project(await make_workspace(other_org))
    theirs = await make_content(other_project, stranger.user, title="Secret", body="secret body")
    await writer.send("/drafts")
    await writer.press_data(f"dr:o:{theirs.id}", forged=True)
    assert writer.toasts[-1] == harness.t("error.not_found")
    assert all("secret body" not in text for text in writer.texts)
    await writer.press_data(f"dr:dy:{theirs.id}", forged=True)
    assert not (await Content.get(id=theirs.id)).deleted_at
    await writer.press_data("dr:o:nonsense", forged=True)
    await writer.press_data("zz:1", forged=True)
    assert writer.toasts[-2:] == [harness.t("error.not_found"), harness.t("bot.button_expired")]
    assert (await Content.get(id=mine.id)).deleted_at is None
