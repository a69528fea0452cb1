"""A writer whose content is stuck in generating finds the way out in the bot (Persian).

Through the real Application: the draft shows when it may be unlocked (now when the job's
process is dead, else when the grace ends, in the Solar Hijri calendar and Persian digits) with
an Unlock button that calls ``GenerationService.unlock``; an edit meeting the lock says the same
and offers the button; too early and forged presses change nothing.
"""

from __future__ import annotations

from datetime import timedelta

from bot.texts import moment
from db.models import Content, ContentStatus, GenerationJob, JobStatus, Role
from tests.bot.harness import BotHarness, Person
from tests.support.factories import make_content


async def _stuck(harness: BotHarness, content: Content, *, owner: str) -> GenerationJob:
    """``content`` locked by a running job of ``owner``, last seen now."""
    job = await GenerationJob.create(
        organization_id=content.organization_id,
        workspace_id=content.workspace_id,
        content_id=content.id,
        user_id=content.created_by_id,
        kind="draft",
        status=JobStatus.RUNNING,
        model="offline",
        params={"previous_status": "draft"},
        heartbeat_at=harness.clock.now(),
        owner=owner,
    )
    await Content.filter(id=content.id).update(
        status=ContentStatus.GENERATING, current_job_id=job.id
    )
    return job


async def _open(harness: BotHarness, writer: Person, title: str) -> str | None:
    await writer.send("/drafts")
    return await writer.press(f"{title} · {harness.t('bot.status.generating')}")


async def test_a_dead_owners_content_is_unlocked_by_its_writer_and_editable_again(
    harness: BotHarness,
) -> None:
    writer = await harness.linked_user(Role.WRITER)
    content = await make_content(harness.project, writer.user, title="Plan", body="old text")
    job = await _stuck(harness, content, owner="gone-host:1:dead")

    text = await _open(harness, writer, "Plan")

    assert text is not None
    assert harness.t("bot.unlock.locked") in text and harness.t("bot.unlock.now") in text
    assert harness.t("bot.unlock.button") in writer.buttons
    assert harness.t("bot.drafts.button.edit_body") not in writer.buttons
    await writer.press(harness.t("bot.unlock.button"))
    assert writer.toasts[-1] == harness.t("bot.unlock.done")
    assert (await Content.get(id=content.id)).status == ContentStatus.DRAFT
    assert (await GenerationJob.get(id=job.id)).error == "job_abandoned"
    await writer.press(harness.t("bot.drafts.button.edit_body"))
    await writer.send("new text after the unlock")
    assert (await Content.get(id=content.id)).body == "new text after the unlock"


async def test_a_live_owner_says_when_and_unlock_waits_for_the_grace(
    harness: BotHarness,
) -> None:
    writer = await harness.linked_user(Role.WRITER)
    content = await make_content(harness.project, writer.user, title="Plan", body="old text")
    await writer.send("/drafts")
    await writer.press(f"Plan · {harness.t('bot.status.draft')}")
    await writer.press(harness.t("bot.drafts.button.edit_body"))
    # Meanwhile a generation of this very (live) process locks it.
    job = await _stuck(harness, content, owner=harness.services.generation.instance_id)
    grace = harness.services.settings.generation_unlock_grace_seconds
    ends = moment(
        "fa", harness.clock.now() + timedelta(seconds=grace), harness.services.settings.zone
    )
    assert any("۰" <= ch <= "۹" for ch in ends)  # the reader's digits (and Solar Hijri day)

    # The edit meets the lock: it says when, and offers the way out.
    text = await writer.send("an edit while it generates")
    assert text == "\n".join(
        (
            harness.t("bot.unlock.locked"),
            harness.t("bot.unlock.at", time=ends),
            harness.t("bot.unlock.edit_kept"),
        )
    )
    assert writer.buttons == [harness.t("bot.unlock.button")]
    await writer.press(harness.t("bot.unlock.button"))
    assert writer.toasts[-1] == harness.t("bot.unlock.too_early", time=ends)
    assert (await Content.get(id=content.id)).status == ContentStatus.GENERATING
    assert (await GenerationJob.get(id=job.id)).status == JobStatus.RUNNING
    harness.clock.advance(seconds=grace)
    await writer.press(harness.t("bot.unlock.button"))

    assert writer.toasts[-1] == harness.t("bot.unlock.done")
    # The edit the lock refused is saved now, not typed again.
    unlocked = await Content.get(id=content.id)
    assert (unlocked.status, unlocked.body) == (ContentStatus.DRAFT, "an edit while it generates")
    assert harness.t("bot.drafts.saved", version=unlocked.version_count) in writer.texts
    await writer.send("another message")  # the edit state is over: nothing else is saved
    assert (await Content.get(id=content.id)).body == "an edit while it generates"

    # Locked again by a live generation: opening it says when it may be unlocked.
    await _stuck(harness, content, owner=harness.services.generation.instance_id)
    ends = moment(
        "fa", harness.clock.now() + timedelta(seconds=grace), harness.services.settings.zone
    )
    await _open(harness, writer, "Plan")
    # Among the newest messages (the unlocked job's failure notice may come in between).
    assert any(harness.t("bot.unlock.at", time=ends) in text for text in writer.texts[-3:])


async def test_another_members_forged_unlock_changes_nothing(harness: BotHarness) -> None:
    writer = await harness.linked_user(Role.WRITER)
    other = await harness.linked_user(Role.WRITER)
    content = await make_content(harness.project, writer.user, title="Plan", body="old text")
    job = await _stuck(harness, content, owner="gone-host:1:dead")  # unlockable by its writer
    await other.send("/drafts")

    await other.press_data(f"dr:u:{content.id}", forged=True)

    assert other.toasts[-1] in {harness.t("error.not_found"), harness.t("error.permission_denied")}
    assert (await Content.get(id=content.id)).status == ContentStatus.GENERATING
    assert (await GenerationJob.get(id=job.id)).status == JobStatus.RUNNING
