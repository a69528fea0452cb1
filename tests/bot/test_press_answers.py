"""A press is acknowledged (``answerCallbackQuery``) beside its answer, not before it."""

from __future__ import annotations

from tests.bot.harness import BotHarness

TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


async def test_a_press_is_acknowledged_and_answered(harness: BotHarness) -> None:
    person = await harness.linked_user()
    await person.send("/new")
    answered = len(harness.fake.callback_answers)

    await person.press_data("cancel", forged=True)

    assert harness.t("bot.nothing_to_cancel") in person.texts
    assert len(harness.fake.callback_answers) == answered + 1


async def test_a_failed_acknowledgement_does_not_hide_the_answer(harness: BotHarness) -> None:
    person = await harness.linked_user()
    await person.send("/new")
    harness.fake.fail_next("answerCallbackQuery", 400, TOO_OLD)

    await person.press_data("cancel", forged=True)

    assert harness.t("bot.nothing_to_cancel") in person.texts
    assert harness.t("bot.error.internal") not in person.texts


async def test_a_failed_answer_is_still_an_error(harness: BotHarness) -> None:
    person = await harness.linked_user()
    await person.send("/new")
    harness.fake.fail_next("sendMessage", 500)

    await person.press_data("cancel", forged=True)

    assert harness.t("bot.nothing_to_cancel") not in person.texts
    assert harness.t("bot.error.internal") in person.texts  # the press was answered
