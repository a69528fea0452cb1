"""/new through the real bot: menus, questions one at a time, and the draft streaming in.

The model is the fake OpenAI server behind the real openai client; Telegram is the fake Bot
API, with its flood limit for streamed edits and drafts switched on (``stream_interval``).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from docx import Document
from pydantic import SecretStr

from core.settings import LlmBackend, Settings
from db.models import (
    Content,
    ContentStatus,
    GenerationJob,
    JobStatus,
    Prompt,
    ReservationStatus,
    Role,
    UsageLimit,
    UsagePeriod,
    UsageReservation,
    UsageScope,
)
from tests.bot.harness import BotHarness, Person
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.openai_server import FakeOpenAI
from tests.support.factories import add_member, make_org, make_project, make_workspace

ANSWER = "# عنوان\n\nبند نخست پیش‌نویس.\n\nبند دوم با <b>نشانه</b> & علامت."

VARIABLES = [
    {
        "name": "topic",
        "label": {"fa": "موضوع", "en": "Topic"},
        "type": "text",
        "required": True,
        "max_length": 20,
        "help": {"fa": "در یک جمله", "en": "In one sentence"},
    },
    {
        "name": "words",
        "label": {"fa": "تعداد کلمه", "en": "Words"},
        "type": "number",
        "required": True,
        "min_value": 100,
        "max_value": 900,
    },
    {
        "name": "tone",
        "label": {"fa": "لحن", "en": "Tone"},
        "type": "choice",
        "required": True,
        "choices": ["رسمی", "صمیمی"],
    },
    {
        "name": "notes",
        "label": {"fa": "یادداشت", "en": "Notes"},
        "type": "long_text",
        "max_length": 30,
    },
    {
        "name": "audience",
        "label": {"fa": "مخاطب", "en": "Audience"},
        "type": "text",
        "default": "همه",
    },
]
TEMPLATE = "{topic} {words} {tone} {notes} {audience}"


@pytest.fixture
async def model() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(answer=ANSWER) as fake:
        yield fake


@pytest.fixture
def bot_settings(settings: Settings, bot_api: FakeBotApi, model: FakeOpenAI) -> Settings:
    """The bot on the fake Bot API, generating with the real openai client on the fake model."""
    bot_api.stream_interval = 1.0
    return settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(bot_api.token),
            "telegram_api_base_url": bot_api.url,
            "llm_backend": LlmBackend.OPENAI,
            "openai_base_url": model.base_url,
            "openai_api_key": SecretStr("test"),
        }
    )


async def _prompt(harness: BotHarness, *, variables: Any = VARIABLES, **kw: Any) -> Prompt:
    org = await harness.default_org()
    fields = {"title": "پست وبلاگ", "template": TEMPLATE, "variables": variables, **kw}
    if variables is not VARIABLES:
        fields["template"] = " ".join("{" + v["name"] + "}" for v in variables) or "بنویس"
    return await Prompt.create(organization=org, **fields)


async def _to_questions(harness: BotHarness, person: Person, prompt: Prompt) -> None:
    """/new, then the workspace, project and prompt pickers (one organisation: no org step)."""
    await person.send("/new")
    assert person.last_text == harness.t("bot.new.pick_workspace", person.language)
    assert harness.workspace is not None and harness.project is not None
    await person.press(harness.workspace.name)
    assert person.last_text == harness.t("bot.new.pick_project", person.language)
    await person.press(harness.project.name)
    assert person.last_text == harness.t("bot.new.pick_prompt", person.language)
    await person.press_data(f"new:go:{harness.project.id}:{prompt.id}")


def _progress(harness: BotHarness, current: int, total: int, language: str = "fa") -> str:
    from bot.texts import number

    return harness.t(
        "bot.vars.progress",
        language,
        current=number(language, current),
        total=number(language, total),
    )


async def _final(harness: BotHarness, person: Person) -> None:
    """Wait until the bot shows the answer's buttons (the stream runs after the press)."""
    submit = harness.t("bot.gen.submit", person.language)
    failed = harness.t("bot.gen.regenerate", person.language)
    await harness.fake.wait_until(
        lambda: any(
            any(b.text in (submit, failed) for b in m.buttons)
            for m in harness.fake.messages(person.id, from_bot=True)
        ),
        timeout=20,
        what="the generation's final message",
    )


async def test_every_question_bad_then_good_then_the_draft_streams(harness: BotHarness) -> None:
    prompt = await _prompt(harness)
    person = await harness.linked_user(Role.WRITER)
    await _to_questions(harness, person, prompt)
    # 1. text with a length limit
    assert "موضوع" in person.last_text and _progress(harness, 1, 5) in person.last_text
    await person.send("x" * 21)
    assert harness.t("bot.vars.retry") in person.last_text
    assert _progress(harness, 1, 5) in person.last_text
    await person.send("قهوهٔ دمی")
    # 2. number with a range, Persian digits accepted
    assert _progress(harness, 2, 5) in person.last_text
    await person.send("۵۰")
    assert harness.t("error.variable_out_of_range", name="تعداد کلمه", min=100, max=900) in (
        person.last_text
    )
    await person.send("۳۰۰")
    # 3. choice: a typed answer that is no choice, then the button
    assert person.buttons[:2] == ["رسمی", "صمیمی"]
    await person.send("شاد")
    assert _progress(harness, 3, 5) in person.last_text
    await person.press("صمیمی")
    # 4. optional long text: too long, then Skip
    await person.send("y" * 31)
    assert _progress(harness, 4, 5) in person.last_text
    await person.press(harness.t("bot.vars.skip"))
    # 5. the default as a button
    await person.press(harness.t("bot.vars.use_default", value="همه"))
    summary = person.last_text
    assert "قهوهٔ دمی" in summary and "300" in summary and "صمیمی" in summary
    await person.press(harness.t("bot.vars.generate"))
    # a draft prompt may be written as a draft or an outline
    assert person.buttons[:2] == [
        harness.t("bot.gen.kind.draft"),
        harness.t("bot.gen.kind.outline"),
    ]
    await person.press(harness.t("bot.gen.kind.draft"))
    await _final(harness, person)

    content = await Content.get(created_by_id=person.user.id)
    assert content.variables == {
        "topic": "قهوهٔ دمی",
        "words": "300",
        "tone": "صمیمی",
        "notes": "",
        "audience": "همه",
    }
    assert content.body == ANSWER and content.status == ContentStatus.DRAFT
    final = person.last_message
    assert final.parse_mode == "HTML"
    assert "&lt;b&gt;نشانه&lt;/b&gt; &amp;" in final.text and "<b>عنوان</b>" in final.text
    assert harness.fake.calls_to("sendChatAction")
    assert harness.fake.calls_to("sendMessageDraft")  # private chat: Telegram's stream preview
    assert harness.fake.flood_refusals == 0
    # Export: both files open, the .docx read back with python-docx
    await person.press(harness.t("bot.gen.export_md"))
    await person.press(harness.t("bot.gen.export_docx"))
    documents = harness.fake.calls_to("sendDocument")
    assert [c.params["document"].filename.rsplit(".", 1)[1] for c in documents] == ["md", "docx"]
    markdown = documents[0].params["document"].data.decode("utf-8")
    assert markdown.startswith("# قهوهٔ دمی") and "بند دوم با <b>نشانه</b> & علامت." in markdown
    word = Document(io.BytesIO(documents[1].params["document"].data))
    assert any("بند نخست" in paragraph.text for paragraph in word.paragraphs)
    # Submit for review from the final message
    await person.press(harness.t("bot.gen.submit"))
    assert (await Content.get(id=content.id)).status == ContentStatus.REVIEW
    # The last choice is offered first next time
    await person.send("/new")
    assert person.buttons[0] == harness.t(
        "bot.new.continue", project=harness.project.name, prompt=prompt.title
    )
    await person.press(person.buttons[0])
    assert _progress(harness, 1, 5) in person.last_text


async def test_back_skip_and_cancel(harness: BotHarness) -> None:
    prompt = await _prompt(harness)
    person = await harness.linked_user(Role.WRITER, language="en")
    await _to_questions(harness, person, prompt)
    await person.send("Cold brew")
    assert _progress(harness, 2, 5, "en") in person.last_text
    await person.press(harness.t("bot.button.back", "en"))
    assert _progress(harness, 1, 5, "en") in person.last_text
    await person.send("Espresso")
    await person.send("250")
    await person.press("رسمی")
    await person.press(harness.t("bot.vars.skip", "en"))
    # a stale Skip (of question 4) pressed on question 5 is refused, nothing changes
    old = [m for m in harness.fake.messages(person.id, from_bot=True) if m.buttons][-2]
    await person.press_data("v:s:3", message=old, forged=True)
    assert _progress(harness, 5, 5, "en") in person.last_text
    await person.press(harness.t("bot.button.cancel", "en"))
    assert harness.t("bot.cancelled", "en") in person.texts
    assert not await Content.exists(created_by_id=person.user.id)
    await person.send("hello")  # no question any more
    assert harness.t("bot.unknown_input", "en") in person.last_text


async def test_a_restart_continues_at_the_same_question(harness: BotHarness) -> None:
    prompt = await _prompt(harness)
    person = await harness.linked_user(Role.WRITER)
    await _to_questions(harness, person, prompt)
    await person.send("قهوه")
    await person.send("۴۰۰")
    await harness.restart()
    await person.press("رسمی")
    assert _progress(harness, 4, 5) in person.last_text
    await person.press(harness.t("bot.vars.skip"))
    await person.press(harness.t("bot.vars.use_default", value="همه"))
    assert "قهوه" in person.last_text and "400" in person.last_text
    # Edit an answer from the summary: back to the summary with the new value
    await person.press(harness.t("bot.vars.edit"))
    await person.press("تعداد کلمه")
    assert _progress(harness, 2, 5) in person.last_text
    await person.send("۵۰۰")
    assert "500" in person.last_text and "400" not in person.last_text
    assert harness.t("bot.vars.generate") in person.buttons


async def test_forged_buttons_are_refused_in_core(harness: BotHarness) -> None:
    prompt = await _prompt(harness)
    person = await harness.linked_user(Role.WRITER)
    other = await make_org()
    their_project = await make_project(await make_workspace(other))
    await person.send("/new")
    await person.press_data(f"new:go:{their_project.id}:{prompt.id}", forged=True)
    assert person.toasts[-1] == harness.t("error.not_found")
    await person.press_data(f"new:t:{their_project.id}:0", forged=True)
    assert person.toasts[-1] == harness.t("error.not_found")
    await person.press_data("new:go:x:1", forged=True)
    assert len(person.toasts) == 3
    assert not await Content.exists(created_by_id=person.user.id)


async def test_organisation_step_only_with_several(harness: BotHarness) -> None:
    await harness.default_org()
    person = await harness.linked_user(Role.WRITER)
    second = await make_org(name="دومی")
    await add_member(second, Role.EDITOR, person.user)
    await make_project(await make_workspace(second, name="فضای دوم"))
    await person.send("/new")
    assert person.last_text == harness.t("bot.new.pick_organization")
    await person.press("دومی")
    assert person.buttons[0] == "فضای دوم"
    await person.press(harness.t("bot.button.back"))
    assert person.last_text == harness.t("bot.new.pick_organization")


async def _generate_simple(harness: BotHarness, person: Person, **prompt_fields: Any) -> None:
    prompt = await _prompt(harness, variables=[], kind="caption", **prompt_fields)
    await _to_questions(harness, person, prompt)
    await person.press(harness.t("bot.vars.generate", person.language))


async def test_streaming_by_edits_keeps_to_one_a_second(
    harness: BotHarness, model: FakeOpenAI
) -> None:
    model.answer = " ".join(f"واژه{n}" for n in range(60))
    model.chunk_chars = 20
    model.chunk_delay = 0.15  # about 2.5 s of streaming
    harness.fake.fail_next("sendMessageDraft", 400, "Bad Request: method is not available")
    person = await harness.linked_user(Role.WRITER)
    await _generate_simple(harness, person)
    await _final(harness, person)
    edits = [c for c in harness.fake.calls_to("editMessageText") if c.ok]
    assert len(edits) >= 2  # streamed by editing one message, then the final text
    assert harness.fake.flood_refusals == 0
    assert person.last_text == model.answer
    assert person.last_message.parse_mode == "HTML"


async def test_a_long_answer_is_split_and_a_very_long_one_is_a_document(
    harness: BotHarness, model: FakeOpenAI
) -> None:
    paragraph = "جمله‌ای برای پر کردن. " * 60  # about 1300 characters
    model.answer = "\n\n".join(f"{n} {paragraph}" for n in range(5))
    model.chunk_chars = 2000
    person = await harness.linked_user(Role.WRITER)
    await _generate_simple(harness, person)
    await _final(harness, person)
    finals = [m for m in harness.fake.messages(person.id, from_bot=True) if m.parse_mode == "HTML"]
    # five paragraphs of ~1300 characters: two, two and one per message, cut between them
    assert len(finals) == 3 and all(len(m.text) <= 4096 for m in finals)
    assert [m.text[:2] for m in finals] == ["0 ", "2 ", "4 "]
    assert "".join(m.text for m in finals).count("جمله") == 300

    model.answer = "\n\n".join(f"{n} {paragraph}" for n in range(12))
    await person.press(harness.t("bot.gen.regenerate"))
    await harness.fake.wait_for_calls("sendDocument", 1, timeout=20)
    document = person.last_message
    assert document.document["file_name"].endswith(".md")
    assert harness.t("bot.gen.submit") in person.buttons


async def test_usage_refusal_names_the_limit_and_when_it_resets(harness: BotHarness) -> None:
    person = await harness.linked_user(Role.WRITER, language="en")
    org = await harness.default_org()
    await UsageLimit.create(
        organization=org,
        scope=UsageScope.USER,
        scope_id=person.user.id,
        period=UsagePeriod.DAILY,
        requests_limit=0,
    )
    await _generate_simple(harness, person)
    text = person.last_text
    assert "daily" in text.lower() and "request" in text.lower()
    resets = harness.services.usage.period_bounds(UsagePeriod.DAILY)[1]
    from bot.texts import moment

    when = moment("en", resets, harness.settings.zone)
    assert harness.t("bot.gen.limit_resets", "en", when=when) in text
    # the empty draft made for the refused generation is not left behind
    assert not await Content.exists(created_by_id=person.user.id, deleted_at__isnull=True)


async def test_a_model_failure_says_so_and_costs_nothing(
    harness: BotHarness, model: FakeOpenAI
) -> None:
    model.fail_next(5, 500)
    person = await harness.linked_user(Role.WRITER)
    await _generate_simple(harness, person)
    await _final(harness, person)
    assert person.last_text == harness.t("bot.gen.model_failed")
    job = await GenerationJob.get(user_id=person.user.id)
    assert job.status == JobStatus.FAILED
    assert (await UsageReservation.get(job_id=job.id)).status == ReservationStatus.RELEASED


async def test_cancel_while_the_draft_streams(harness: BotHarness, model: FakeOpenAI) -> None:
    model.answer = "x" * 400
    model.chunk_chars = 10
    model.chunk_delay = 0.5
    model.delay_from_chunk = 1
    person = await harness.linked_user(Role.WRITER)
    await _generate_simple(harness, person)
    await harness.fake.wait_for_calls("sendMessageDraft", 1, timeout=20)
    await person.send("/cancel")
    await _final(harness, person)
    assert harness.t("bot.gen.cancelled") in person.texts
    job = await GenerationJob.get(user_id=person.user.id)
    assert (job.status, job.error) == (JobStatus.FAILED, "generation_cancelled")


async def test_two_writers_at_once_and_one_writers_updates_in_order(
    harness: BotHarness,
) -> None:
    prompt = await _prompt(harness)
    first = await harness.linked_user(Role.WRITER)
    second = await harness.linked_user(Role.WRITER, language="en")
    await _to_questions(harness, first, prompt)
    await _to_questions(harness, second, prompt)
    # Both type at once; the first sends three answers without waiting for the bot.
    harness.fake.user_sends_text(first.id, "یک")
    harness.fake.user_sends_text(second.id, "Two")
    harness.fake.user_sends_text(first.id, "۲۰۰")
    harness.fake.user_sends_text(first.id, "رسمی")
    await harness.handled()
    await harness.fake.wait_until(
        lambda: _progress(harness, 4, 5) in (first.last_text or ""), timeout=10, what="first"
    )
    await harness.fake.wait_until(
        lambda: _progress(harness, 2, 5, "en") in (second.last_text or ""), timeout=10, what="2nd"
    )
    await first.press(harness.t("bot.vars.skip"))
    await first.press(harness.t("bot.vars.use_default", value="همه"))
    assert "یک" in first.last_text and "200" in first.last_text and "رسمی" in first.last_text


async def test_a_generation_asked_for_while_shutting_down_says_so_and_keeps_the_draft(
    harness: BotHarness,
) -> None:
    person = await harness.linked_user(Role.WRITER, language="en")
    await harness.services.generation.wind_down(grace_seconds=0)  # SIGTERM arrived

    await _generate_simple(harness, person)

    # Told in an alert on the button press, in the person's language.
    alerts = [a for a in harness.fake.callback_answers.values() if a.get("show_alert")]
    assert alerts[-1]["text"] == harness.t("error.shutting_down", "en")
    assert not await GenerationJob.exists(user_id=person.user.id)
    draft = await Content.get(created_by_id=person.user.id)
    assert draft.status == ContentStatus.DRAFT  # the answers are kept: regenerate it later
