"""/prompt through the real bot, in Persian (and English where a text differs): every step with
a bad answer first (help text, longest answer, bounds included), Skip, Back across the steps,
Cancel, a restart in the middle, the template refused by ``core`` before the summary, and
writers, demoted editors and forged presses that create nothing."""

from __future__ import annotations

from db.models import GenerationKind, Language, Membership, Prompt, PromptCategory, Role
from tests.bot.harness import BotHarness, Person
from tests.support.factories import make_org


def t(harness: BotHarness, key: str, **params) -> str:
    return harness.t(key, **params)


def question(harness: BotHarness, number: int, count: int, name: str, key: str, **params) -> str:
    head = t(harness, "bot.prompt.variable", number=number, count=count, name=name)
    return head + "\n" + t(harness, key, **params)


async def begin(harness: BotHarness, editor: Person, template: str) -> str | None:
    """/prompt up to the question after the template (the kind skipped); returns it."""
    await editor.send("/prompt")
    await editor.send("کپشن محصول")
    await editor.press("فارسی")
    await editor.press("شبکه‌های اجتماعی")
    await editor.press(t(harness, "bot.prompt.button.skip"))
    return await editor.send(template)


async def plain_variable(harness: BotHarness, editor: Person, label: str, kind: str) -> None:
    """Label, help skipped, type ``kind`` and, for a text or number, its bounds skipped."""
    await editor.send(label)
    await editor.press(t(harness, "bot.prompt.button.skip"))
    await editor.press(kind)
    if kind in ("متن کوتاه", "متن بلند"):
        await editor.press(t(harness, "bot.prompt.button.skip"))
    elif kind == "عدد":
        await editor.press(t(harness, "bot.prompt.button.skip"))
        await editor.press(t(harness, "bot.prompt.button.skip"))


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
    kind_question = t(harness, "bot.prompt.ask.kind", default="پیش‌نویس کامل")
    assert await editor.press("شبکه‌های اجتماعی") == kind_question
    assert t(harness, "bot.prompt.button.skip") in editor.buttons
    # kind: typing is not an answer; Back from the template comes back here
    assert (await editor.send("کپشن")).startswith(t(harness, "bot.prompt.use_buttons"))
    await editor.press("پیش‌نویس کامل")
    assert editor.last_text.startswith(t(harness, "bot.prompt.ask.template"))
    assert await editor.press(t(harness, "bot.button.back")) == kind_question
    await editor.press("کپشن")
    assert editor.last_text.startswith(t(harness, "bot.prompt.ask.template"))
    # template: too many variables, then a good one
    reply = await editor.send(" ".join(f"{{v{n}}}" for n in range(31)))
    assert reply.startswith(t(harness, "error.too_many_variables", max_count=30))
    template = "یک کپشن برای {محصول} با لحن {لحن} در {تعداد} جمله بنویس."
    reply = await editor.send(template)
    assert reply == question(harness, 1, 3, "محصول", "bot.prompt.ask.label")
    # variable 1: a text with a help text and a longest answer, no default, required
    reply = await editor.send("پ" * 201)
    assert reply.startswith(t(harness, "bot.prompt.bad_label"))
    reply = await editor.send("نام محصول؟")
    assert reply == question(harness, 1, 3, "محصول", "bot.prompt.ask.help")
    reply = await editor.send("ر" * 501)
    assert reply.startswith(t(harness, "bot.prompt.bad_help"))
    assert reply.endswith(question(harness, 1, 3, "محصول", "bot.prompt.ask.help"))
    reply = await editor.send("مثلاً: کفش چرم")
    assert reply == question(harness, 1, 3, "محصول", "bot.prompt.ask.type")
    reply = await editor.press("متن کوتاه")
    assert reply == question(harness, 1, 3, "محصول", "bot.prompt.ask.max_length", most=1000)
    assert editor.buttons[0] == t(harness, "bot.prompt.button.skip")
    for bad in ("صد و بیست", "۲۰۰۰", "0", "12.5", "-5"):
        reply = await editor.send(bad)
        assert reply.startswith(t(harness, "bot.prompt.bad_max_length", most=1000)), bad
    reply = await editor.send("۱۲۰")  # Persian digits
    assert reply == question(harness, 1, 3, "محصول", "bot.prompt.ask.default")
    reply = await editor.send("ن" * 121)  # the default is held to the longest answer
    assert reply.startswith(t(harness, "error.variable_too_long", name="محصول", max_length=120))
    await editor.press(t(harness, "bot.prompt.button.no_default"))
    await editor.press(t(harness, "bot.prompt.button.required"))
    # variable 2: a choice with a choice as default, optional, no help; a restart before the
    # choices
    await editor.send("لحن متن؟")
    await editor.press(t(harness, "bot.prompt.button.skip"))
    await editor.press("انتخاب از گزینه‌ها")
    await harness.restart()
    reply = await editor.send("رسمی\nرسمی")
    assert reply.startswith(t(harness, "bot.prompt.bad_choices", most=50))
    reply = await editor.send("رسمی، صمیمی، طنز")
    assert reply == question(harness, 2, 3, "لحن", "bot.prompt.ask.default_choice")
    await editor.press("صمیمی")
    await editor.press(t(harness, "bot.prompt.button.optional"))
    # variable 3: a number between bounds; bad bounds, a bad default, then Back across the
    # bounds to lower the largest, which drops the default that no longer fits
    await editor.send("چند جمله؟")
    await editor.press(t(harness, "bot.prompt.button.skip"))
    reply = await editor.press("عدد")
    assert reply == question(harness, 3, 3, "تعداد", "bot.prompt.ask.min")
    reply = await editor.send("سه")
    assert reply.startswith(t(harness, "bot.prompt.bad_number"))
    assert reply.endswith(question(harness, 3, 3, "تعداد", "bot.prompt.ask.min"))
    reply = await editor.send("۱۰")
    assert reply == question(harness, 3, 3, "تعداد", "bot.prompt.ask.max")
    reply = await editor.send("۲")  # smaller than the smallest
    assert reply.startswith(t(harness, "bot.prompt.bad_range", min="۱۰", max="۲"))
    assert reply.endswith(question(harness, 3, 3, "تعداد", "bot.prompt.ask.max"))
    reply = await editor.send("۲۰")
    assert reply == question(harness, 3, 3, "تعداد", "bot.prompt.ask.default")
    reply = await editor.send("سه")
    assert reply.startswith(t(harness, "error.variable_not_a_number", name="تعداد"))
    reply = await editor.send("۲۵")
    assert reply.startswith(t(harness, "error.variable_out_of_range", name="تعداد", min=10, max=20))
    await editor.send("۱۲")
    reply = await editor.press(t(harness, "bot.button.back"))  # the default again
    assert reply.endswith(t(harness, "bot.prompt.current_answer", answer="12"))
    reply = await editor.press(t(harness, "bot.button.back"))  # the largest again
    assert reply.endswith(t(harness, "bot.prompt.current_answer", answer="۲۰"))
    reply = await editor.press(t(harness, "bot.button.back"))  # the smallest again
    assert reply.endswith(t(harness, "bot.prompt.current_answer", answer="۱۰"))
    reply = await editor.send("۳۰")  # now larger than the largest (20)
    assert reply.startswith(t(harness, "bot.prompt.bad_range", min="۳۰", max="۲۰"))
    await editor.send("۱۰")
    reply = await editor.send("۱۱")  # the default 12 no longer fits: asked afresh
    assert reply == question(harness, 3, 3, "تعداد", "bot.prompt.ask.default")
    await editor.send("۱۱")
    summary = await editor.press(t(harness, "bot.prompt.button.optional"))
    # the summary
    assert summary.startswith(
        t(
            harness,
            "bot.prompt.summary",
            title="کپشن محصول",
            prompt_language="فارسی",
            category="شبکه‌های اجتماعی",
            kind="کپشن",
            template=template,
        )
    )
    assert "• نام محصول؟ ({محصول}): متن کوتاه، لازم، حداکثر ۱۲۰ نویسه\n  راهنما: مثلاً: کفش چرم" in (
        summary
    )
    assert (
        "• لحن متن؟ ({لحن}): انتخاب از گزینه‌ها، اختیاری، گزینه‌ها: رسمی، صمیمی، طنز، پیش‌فرض: صمیمی"
        in summary
    )
    assert "• چند جمله؟ ({تعداد}): عدد، اختیاری، از ۱۰ تا ۱۱، پیش‌فرض: 11" in summary
    assert not await Prompt.exists(title="کپشن محصول")
    assert await editor.press(t(harness, "bot.prompt.button.save")) == t(
        harness, "bot.prompt.saved", title="کپشن محصول"
    )
    saved = await Prompt.get(title="کپشن محصول")
    assert (saved.organization_id, saved.language, saved.category, saved.kind) == (
        harness.org.id,
        Language.FA,
        PromptCategory.SOCIAL,
        GenerationKind.CAPTION,
    )
    assert saved.template == template
    assert [
        (v["name"], v["label"], v["type"], v["required"], v["default"], v["choices"])
        for v in saved.variables
    ] == [
        ("محصول", "نام محصول؟", "text", True, None, None),
        ("لحن", "لحن متن؟", "choice", False, "صمیمی", ["رسمی", "صمیمی", "طنز"]),
        ("تعداد", "چند جمله؟", "number", False, "11", None),
    ]
    assert [
        (v["help"], v["max_length"], v["min_value"], v["max_value"]) for v in saved.variables
    ] == [("مثلاً: کفش چرم", 120, None, None), (None, None, None, None), (None, None, 10, 11)]
    assert saved.created_by_id == editor.user.id
    # the conversation is over: Save again is stale
    await editor.press_data("prm:save", forged=True)
    assert editor.toasts[-1] == t(harness, "bot.button_expired")
    assert await Prompt.filter(title="کپشن محصول").count() == 1


async def test_the_render_bound_sends_back_to_the_template(harness: BotHarness) -> None:
    editor = await harness.linked_user(Role.EDITOR)
    await begin(harness, editor, "{a} " * 101)  # 101 uses of a 1,000-character text
    await plain_variable(harness, editor, "الف؟", "متن کوتاه")
    await editor.press(t(harness, "bot.prompt.button.no_default"))
    reply = await editor.press(t(harness, "bot.prompt.button.required"))
    assert reply.startswith(
        t(harness, "error.template_too_large", max_chars=100_000, chars=101_000 + 101)
    )
    assert t(harness, "bot.prompt.ask.template") in reply
    # a shorter template: the answers given are kept and shown while walking on
    reply = await editor.send("درباره‌ی {a} بنویس")
    assert reply.endswith(t(harness, "bot.prompt.current_answer", answer="الف؟"))
    await plain_variable(harness, editor, "الف؟", "متن کوتاه")
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
    saved = await Prompt.get()
    assert (saved.variables, saved.kind) == ([], GenerationKind.DRAFT)  # kind skipped: core's


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
    await plain_variable(harness, editor, "الف؟", "متن کوتاه")
    await editor.press(t(harness, "bot.prompt.button.no_default"))
    summary = await editor.press(t(harness, "bot.prompt.button.optional"))
    assert summary.startswith(t(harness, "bot.prompt.summary", title="کپشن محصول")[:20])
    assert len(summary) < 4_096
    await editor.press(t(harness, "bot.prompt.button.save"))
    assert (await Prompt.get(title="کپشن محصول")).template == template


async def test_a_button_left_on_an_earlier_variable_is_stale(harness: BotHarness) -> None:
    editor = await harness.linked_user(Role.EDITOR)
    await begin(harness, editor, "{a} {b}")
    await plain_variable(harness, editor, "الف؟", "عدد")
    await editor.press(t(harness, "bot.prompt.button.no_default"))
    await editor.press(t(harness, "bot.prompt.button.optional"))
    await editor.send("ب؟")
    await editor.press(t(harness, "bot.prompt.button.skip"))  # now at the second one's type
    # the first variable's type buttons (that message was edited since: a press from an
    # older client or a forged one)
    await editor.press_data("prm:type:0:long_text", forged=True)
    assert editor.toasts[-1] == t(harness, "bot.button_expired")
    assert editor.last_text == question(harness, 2, 2, "b", "bot.prompt.ask.type")
    await editor.press("متن بلند")
    await editor.press(t(harness, "bot.prompt.button.skip"))
    await editor.press(t(harness, "bot.prompt.button.no_default"))
    await editor.press(t(harness, "bot.prompt.button.optional"))
    await editor.press(t(harness, "bot.prompt.button.save"))
    saved = await Prompt.get(title="کپشن محصول")
    assert [v["type"] for v in saved.variables] == ["number", "long_text"]


async def test_in_english_a_help_text_skipped_a_longest_answer_and_one_bound_over_a_restart(
    harness: BotHarness,
) -> None:
    editor = await harness.linked_user(Role.EDITOR, language="en")

    def en(key: str, **params) -> str:
        return harness.t(key, language="en", **params)

    skip = en("bot.prompt.button.skip")
    await editor.send("/prompt")
    await editor.send("Product post")
    await editor.press("English")
    assert await editor.press("Blog") == en("bot.prompt.ask.kind", default="A full draft")
    await editor.press("An outline")
    await editor.send("Write about {topic} in {words} words.")
    # variable 1: a help text given, then taken back with Back and Skip
    await editor.send("What about?")
    reply = await editor.send("h" * 501)
    assert reply.startswith(en("bot.prompt.bad_help"))
    assert reply.endswith(en("bot.prompt.ask.help"))
    await editor.send("A product or a service")
    reply = await editor.press(en("bot.button.back"))
    assert reply.endswith(en("bot.prompt.current_answer", answer="A product or a service"))
    await editor.press(skip)
    reply = await editor.press("Long text")
    assert reply.endswith(en("bot.prompt.ask.max_length", most=20_000))
    reply = await editor.send("30000")
    assert reply.startswith(en("bot.prompt.bad_max_length", most=20_000))
    await editor.send("5,000")  # a thousands separator is fine
    await editor.press(en("bot.prompt.button.no_default"))
    await editor.press(en("bot.prompt.button.optional"))
    # variable 2: a number with only a largest value, over a restart
    await editor.send("How many words?")
    await editor.press(skip)
    await editor.press("Number")
    reply = await editor.press(skip)  # no smallest
    assert reply.endswith(en("bot.prompt.ask.max"))
    await harness.restart()
    reply = await editor.send("lots")
    assert reply.startswith(en("bot.prompt.bad_number"))
    assert reply.endswith(en("bot.prompt.ask.max"))
    await editor.send("1500.5")
    # a Skip left on the smallest's question is stale and changes nothing
    await editor.press_data("prm:skip:1:min", forged=True)
    assert editor.toasts[-1] == en("bot.button_expired")
    reply = await editor.send("2000")  # the default is held to the largest
    assert reply.startswith(en("error.variable_too_large", name="words", max="1500.5"))
    await editor.press(en("bot.prompt.button.no_default"))
    summary = await editor.press(en("bot.prompt.button.optional"))
    assert "Produces: An outline" in summary
    assert "• What about? ({topic}): Long text, optional, at most 5,000 characters" in summary
    assert "• How many words? ({words}): Number, optional, at most 1500.5" in summary
    await editor.press(en("bot.prompt.button.save"))
    saved = await Prompt.get(title="Product post")
    assert (saved.language, saved.category, saved.kind) == (
        Language.EN,
        PromptCategory.BLOG,
        GenerationKind.OUTLINE,
    )
    assert [
        (v["help"], v["max_length"], v["min_value"], v["max_value"]) for v in saved.variables
    ] == [(None, 5000, None, None), (None, None, None, 1500.5)]
