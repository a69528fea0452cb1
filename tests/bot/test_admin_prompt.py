"""/prompt through the real bot, in Persian: every step with a bad answer first, Back, Cancel,
a restart in the middle, the template refused by ``core`` before the summary, and writers,
demoted editors and forged presses that create nothing."""

from __future__ import annotations

from db.models import Language, Membership, Prompt, PromptCategory, Role
from tests.bot.harness import BotHarness, Person
from tests.support.factories import make_org


def t(harness: BotHarness, key: str, **params) -> str:
    return harness.t(key, **params)


def question(harness: BotHarness, number: int, count: int, name: str, key: str, **params) -> str:
    head = t(harness, "bot.prompt.variable", number=number, count=count, name=name)
    return head + "\n" + t(harness, key, **params)


async def begin(harness: BotHarness, editor: Person, template: str) -> str | None:
    """/prompt up to the question after the template; returns that question."""
    await editor.send("/prompt")
    await editor.send("کپشن محصول")
    await editor.press("فارسی")
    await editor.press("شبکه‌های اجتماعی")
    return await editor.send(template)


async def test_a_prompt_step_by_step_with_bad_answers_back_and_a_restart(
    harness: BotHarness,
) -> None:
    editor = await harness.linked_user(Role.EDITOR)
    assert await editor.send("/prompt") == t(harness, "bot.prompt.ask.title")
    assert editor.buttons == [t(harness, "bot.button.cancel")]  # nothing to go back to
    # title
    reply = await editor.send("ع" * 201)
    assert reply.startswith(t(harness, "error.too_long", field="title", max_length=200))
    assert reply.endswith(t(harness, "bot.prompt.ask.title"))
    assert await editor.send("کپشن محصول") == t(harness, "bot.prompt.ask.language")
    # language: typing is not an answer to a button question
    assert (await editor.send("فارسی")).startswith(t(harness, "bot.prompt.use_buttons"))
    assert await editor.press("فارسی") == t(harness, "bot.prompt.ask.category")
    # a stale press of the language step changes nothing
    language_message = editor.harness.fake.messages(editor.id, from_bot=True)[-2]
    await editor.press_data("prm:lang:en", language_message, forged=True)
    assert editor.toasts[-1] == t(harness, "bot.button_expired")
    await editor.press("شبکه‌های اجتماعی")
    assert editor.last_text.startswith(t(harness, "bot.prompt.ask.template"))
    # template: too many variables, then a good one
    reply = await editor.send(" ".join(f"{{v{n}}}" for n in range(31)))
    assert reply.startswith(t(harness, "error.too_many_variables", max_count=30))
    template = "یک کپشن برای {محصول} با لحن {لحن} در {تعداد} جمله بنویس."
    reply = await editor.send(template)
    assert reply == question(harness, 1, 3, "محصول", "bot.prompt.ask.label")
    # variable 1: a text, no default, required
    reply = await editor.send("پ" * 201)
    assert reply.startswith(t(harness, "bot.prompt.bad_label"))
    await editor.send("نام محصول؟")
    await editor.press("متن کوتاه")
    reply = await editor.send("ن" * 1001)
    assert reply.startswith(t(harness, "error.variable_too_long", name="محصول", max_length=1000))
    await editor.press(t(harness, "bot.prompt.button.no_default"))
    await editor.press(t(harness, "bot.prompt.button.required"))
    # variable 2: a choice with a choice as default, optional; a restart before the choices
    await editor.send("لحن متن؟")
    await editor.press("انتخاب از گزینه‌ها")
    await harness.restart()
    reply = await editor.send("رسمی\nرسمی")
    assert reply.startswith(t(harness, "bot.prompt.bad_choices", most=50))
    reply = await editor.send("رسمی، صمیمی، طنز")
    assert reply == question(harness, 2, 3, "لحن", "bot.prompt.ask.default_choice")
    await editor.press("صمیمی")
    await editor.press(t(harness, "bot.prompt.button.optional"))
    # variable 3: a number; a bad default, then Back from the next step to change it
    await editor.send("چند جمله؟")
    await editor.press("عدد")
    reply = await editor.send("سه")
    assert reply.startswith(t(harness, "error.variable_not_a_number", name="تعداد"))
    await editor.send("۳")
    reply = await editor.press(t(harness, "bot.button.back"))
    assert reply.endswith(t(harness, "bot.prompt.current_answer", answer="3"))
    await editor.send("۴")
    summary = await editor.press(t(harness, "bot.prompt.button.optional"))
    # the summary
    assert summary.startswith(
        t(
            harness,
            "bot.prompt.summary",
            title="کپشن محصول",
            prompt_language="فارسی",
            category="شبکه‌های اجتماعی",
            template=template,
        )
    )
    assert "• نام محصول؟ ({محصول}): متن کوتاه، لازم" in summary
    assert (
        "• لحن متن؟ ({لحن}): انتخاب از گزینه‌ها، اختیاری، گزینه‌ها: رسمی، صمیمی، طنز، پیش‌فرض: صمیمی"
        in summary
    )
    assert "• چند جمله؟ ({تعداد}): عدد، اختیاری، پیش‌فرض: 4" in summary
    assert not await Prompt.exists(title="کپشن محصول")
    assert await editor.press(t(harness, "bot.prompt.button.save")) == t(
        harness, "bot.prompt.saved", title="کپشن محصول"
    )
    saved = await Prompt.get(title="کپشن محصول")
    assert (saved.organization_id, saved.language, saved.category) == (
        harness.org.id,
        Language.FA,
        PromptCategory.SOCIAL,
    )
    assert saved.template == template
    assert [
        (v["name"], v["label"], v["type"], v["required"], v["default"], v["choices"])
        for v in saved.variables
    ] == [
        ("محصول", "نام محصول؟", "text", True, None, None),
        ("لحن", "لحن متن؟", "choice", False, "صمیمی", ["رسمی", "صمیمی", "طنز"]),
        ("تعداد", "چند جمله؟", "number", False, "4", None),
    ]
    assert saved.created_by_id == editor.user.id
    # the conversation is over: Save again is stale
    await editor.press_data("prm:save", forged=True)
    assert editor.toasts[-1] == t(harness, "bot.button_expired")
    assert await Prompt.filter(title="کپشن محصول").count() == 1


async def test_the_render_bound_sends_back_to_the_template(harness: BotHarness) -> None:
    editor = await harness.linked_user(Role.EDITOR)
    await begin(harness, editor, "{a} " * 101)  # 101 uses of a 1,000-character text
    await editor.send("الف؟")
    await editor.press("متن کوتاه")
    await editor.press(t(harness, "bot.prompt.button.no_default"))
    reply = await editor.press(t(harness, "bot.prompt.button.required"))
    assert reply.startswith(
        t(harness, "error.template_too_large", max_chars=100_000, chars=101_000 + 101)
    )
    assert t(harness, "bot.prompt.ask.template") in reply
    # a shorter template: the answers given are kept and shown while walking on
    reply = await editor.send("درباره‌ی {a} بنویس")
    assert reply.endswith(t(harness, "bot.prompt.current_answer", answer="الف؟"))
    await editor.send("الف؟")
    await editor.press("متن کوتاه")
    await editor.press(t(harness, "bot.prompt.button.no_default"))
    await editor.press(t(harness, "bot.prompt.button.required"))
    await editor.press(t(harness, "bot.prompt.button.save"))
    assert (await Prompt.get(title="کپشن محصول")).template == "درباره‌ی {a} بنویس"


async def test_cancel_and_a_template_without_variables(harness: BotHarness) -> None:
    editor = await harness.linked_user(Role.EDITOR)
    await begin(harness, editor, "{a}")
    await editor.press(t(harness, "bot.button.cancel"))
    await editor.send("متنی که پاسخ هیچ پرسشی نیست")
    assert not await Prompt.exists()
    await editor.press_data("prm:b", forged=True)  # Back after Cancel is stale
    assert editor.toasts[-1] == t(harness, "bot.button_expired")

    summary = await begin(harness, editor, "یک شعر کوتاه بنویس.")
    assert t(harness, "bot.prompt.summary.no_variables") in summary
    await editor.press(t(harness, "bot.prompt.button.save"))
    assert (await Prompt.get()).variables == []


async def test_writers_demoted_editors_and_forged_presses_create_nothing(
    harness: BotHarness,
) -> None:
    writer = await harness.linked_user(Role.WRITER)
    refused = t(harness, "error.permission_denied")
    assert await writer.send("/prompt") == refused
    await writer.send("/menu")
    await writer.press_data(f"prm:o:{harness.org.id}", forged=True)
    await writer.press_data("prm:save", forged=True)
    assert writer.toasts[-2:] == [refused, t(harness, "bot.button_expired")]
    assert await writer.send("عنوان") != t(harness, "bot.prompt.ask.language")

    editor = await harness.linked_user(Role.EDITOR)
    other = await make_org()
    await editor.send("/menu")
    await editor.press_data(f"prm:o:{other.id}", forged=True)
    assert editor.toasts[-1] == refused
    await begin(harness, editor, "بدون متغیر")
    await Membership.filter(user_id=editor.user.id).update(role=Role.WRITER)
    await editor.press(t(harness, "bot.prompt.button.save"))
    assert editor.toasts[-1] == refused
    assert not await Prompt.exists()


async def test_a_long_template_is_shortened_where_it_is_shown(harness: BotHarness) -> None:
    editor = await harness.linked_user(Role.EDITOR)
    template = "متن " * 4_000 + "{a}"  # 16,003 characters: more than one message holds
    await begin(harness, editor, template)
    reply = await editor.press(t(harness, "bot.button.back"))  # the template again
    assert t(harness, "bot.prompt.ask.template") in reply and reply.endswith("…")
    assert len(reply) < 4_096
    await editor.send(template)
    await editor.send("الف؟")
    await editor.press("متن کوتاه")
    await editor.press(t(harness, "bot.prompt.button.no_default"))
    summary = await editor.press(t(harness, "bot.prompt.button.optional"))
    assert summary.startswith(t(harness, "bot.prompt.summary", title="کپشن محصول")[:20])
    assert len(summary) < 4_096
    await editor.press(t(harness, "bot.prompt.button.save"))
    assert (await Prompt.get(title="کپشن محصول")).template == template


async def test_a_button_left_on_an_earlier_variable_is_stale(harness: BotHarness) -> None:
    editor = await harness.linked_user(Role.EDITOR)
    await begin(harness, editor, "{a} {b}")
    await editor.send("الف؟")
    await editor.press("عدد")
    await editor.press(t(harness, "bot.prompt.button.no_default"))
    await editor.press(t(harness, "bot.prompt.button.optional"))
    await editor.send("ب؟")  # now at the second variable's type
    # the first variable's type buttons (that message was edited since: a press from an
    # older client or a forged one)
    await editor.press_data("prm:type:0:long_text", forged=True)
    assert editor.toasts[-1] == t(harness, "bot.button_expired")
    assert editor.last_text == question(harness, 2, 2, "b", "bot.prompt.ask.type")
    await editor.press("متن بلند")
    await editor.press(t(harness, "bot.prompt.button.no_default"))
    await editor.press(t(harness, "bot.prompt.button.optional"))
    await editor.press(t(harness, "bot.prompt.button.save"))
    saved = await Prompt.get(title="کپشن محصول")
    assert [v["type"] for v in saved.variables] == ["number", "long_text"]
