"""A prompt's questions, one at a time, then a summary with Generate, Edit an answer, Cancel.

State ``compose.vars`` holds the project and prompt ids, the index of the current question
and the answers given so far, written to the database after every answer
(``ConversationService``), so a restart, even ``kill -9``, continues at the same question.
Every answer is checked in ``core`` (``core.services.prompts.check_answer``): a bad one gets
its reason and the same question again, never a restart. Buttons carry the question's index
(``v:<action>:<index>``), so a press on an older question is refused as expired.
"""

from __future__ import annotations

from typing import Any

from bot import keyboards
from bot.texts import number
from bot.turn import Turn
from core.errors import InvalidInput
from core.services.compose import Choice
from core.services.prompts import (
    PromptVariable,
    VariableType,
    check_answer,
    localized,
    parse_variables,
)

VARS = "compose.vars"


async def begin(turn: Turn, choice: Choice) -> None:
    """Start the questions of the chosen prompt (straight to the summary if it has none)."""
    assert choice.prompt is not None
    await turn.set_state(
        VARS,
        {"project": choice.project.id, "prompt": choice.prompt.id, "index": 0, "answers": {}},
    )
    await _ask(turn, choice, _variables(choice))


def _variables(choice: Choice) -> list[PromptVariable]:
    assert choice.prompt is not None
    return parse_variables(choice.prompt.variables)


async def current(turn: Turn) -> tuple[Choice, list[PromptVariable], dict[str, Any]]:
    """The re-checked choice of this conversation, its variables and the state's data."""
    data = dict(turn.data)
    try:
        project_id, prompt_id = int(data["project"]), int(data["prompt"])
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("invalid_input") from None
    choice = await turn.services.compose.check(
        actor=turn.require_actor(), project_id=project_id, prompt_id=prompt_id
    )
    return choice, _variables(choice), data


async def _save(turn: Turn, data: dict[str, Any]) -> None:
    await turn.set_state(VARS, data)


async def ask_again(turn: Turn) -> None:
    """The current question anew, below whatever interrupted the questions."""
    choice, variables, _ = await current(turn)
    await _ask(turn, choice, variables, fresh=True)


async def _ask(
    turn: Turn,
    choice: Choice,
    variables: list[PromptVariable],
    *,
    problem: str | None = None,
    fresh: bool = False,
) -> None:
    """The current question (``fresh``: as a new message even after a press), or the summary
    after the last one."""
    index = int(turn.data.get("index", 0))
    if index >= len(variables):
        await show_summary(turn, choice, variables)
        return
    variable = variables[index]
    lines = []
    if problem:
        lines += [problem, turn.t("bot.vars.retry"), ""]
    lines.append(localized(variable.label, turn.language))
    help_text = localized(variable.help, turn.language)
    if help_text:
        lines.append(help_text)
    hint = _hint(turn, variable)
    if hint:
        lines.append(hint)
    lines.append(
        turn.t(
            "bot.vars.progress",
            current=number(turn.language, index + 1),
            total=number(turn.language, len(variables)),
        )
    )
    rows: list[list[Any]] = []
    for position, option in enumerate(variable.choices or []):
        rows.append([keyboards.button(option[:60], "v", "c", index, position)])
    if variable.default is not None:
        rows.append(
            [
                keyboards.button(
                    turn.t("bot.vars.use_default", value=variable.default[:40]), "v", "d", index
                )
            ]
        )
    elif not variable.required:
        rows.append([keyboards.button(turn.t("bot.vars.skip"), "v", "s", index)])
    rows.append(
        [
            keyboards.button(turn.t("bot.button.back"), "v", "b", index),
            keyboards.button(turn.t("bot.button.cancel"), "cancel"),
        ]
    )
    show = turn.say if fresh else turn.show
    await show("\n".join(lines), keyboards.inline(rows))


def _hint(turn: Turn, variable: PromptVariable) -> str:
    if variable.type is VariableType.NUMBER:
        low, high = variable.min_value, variable.max_value
        shown = {
            k: number(turn.language, _plain(v))
            for k, v in (("min", low), ("max", high))
            if v is not None
        }
        if low is not None and high is not None:
            return turn.t("bot.vars.hint.range", **shown)
        if low is not None:
            return turn.t("bot.vars.hint.min", **shown)
        if high is not None:
            return turn.t("bot.vars.hint.max", **shown)
        return turn.t("bot.vars.hint.number")
    if variable.type is VariableType.CHOICE:
        return turn.t("bot.vars.hint.choice")
    if variable.max_length is not None:
        return turn.t("bot.vars.hint.length", max_length=variable.max_length)
    return ""


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


async def _accept(turn: Turn, raw: object) -> None:
    """Check one answer to the current question; store it and move on, or ask again."""
    choice, variables, data = await current(turn)
    index = int(data.get("index", 0))
    if index >= len(variables):
        await show_summary(turn, choice, variables)
        return
    variable = variables[index]
    try:
        value = check_answer(variable, raw)
    except InvalidInput as problem:
        await _ask(turn, choice, variables, problem=_problem(turn, variable, problem))
        return
    answers = dict(data.get("answers") or {})
    answers[variable.name] = value
    data["answers"] = answers
    data["index"] = len(variables) if data.pop("editing", False) else index + 1
    await _save(turn, data)
    await _ask(turn, choice, variables)


def _problem(turn: Turn, variable: PromptVariable, problem: InvalidInput) -> str:
    """Why the answer was refused, naming the question by its label, in the reader's digits."""
    params = {
        key: number(turn.language, value) if _numeric(value) else value
        for key, value in problem.params.items()
    }
    params["name"] = localized(variable.label, turn.language)
    return turn.t(f"error.{problem.code}", **params)


def _numeric(value: object) -> bool:
    return isinstance(value, str) and value.lstrip("-").replace(".", "", 1).isdigit()


async def answer_text(turn: Turn) -> None:
    """A typed answer to the current question."""
    await _accept(turn, turn.text)


async def press(turn: Turn) -> None:
    """``v:`` buttons: a choice, the default, Skip, Back, Edit, jump to a question, summary."""
    if turn.state != VARS:
        await turn.ack(turn.t("bot.button_expired"), alert=True)
        return
    action = turn.args[0] if turn.args else ""
    choice, variables, data = await current(turn)
    index = int(data.get("index", 0))
    if action in ("c", "d", "s", "b"):
        if _arg(turn, 1) != index or index >= len(variables):
            await turn.ack(turn.t("bot.button_expired"), alert=True)
            return
        variable = variables[index]
        if action == "c":
            options = variable.choices or []
            position = _arg(turn, 2)
            if not 0 <= position < len(options):
                raise InvalidInput("invalid_input")
            await _accept(turn, options[position])
        elif action in ("d", "s"):
            await _accept(turn, None)  # skipped: the default, or empty when optional
        else:
            if index == 0:
                from bot.handlers.menus import step

                turn.args = ["t", str(choice.project.id), "0"]
                await turn.clear_state()
                await step(turn)
                return
            data["index"] = index - 1
            data.pop("editing", None)
            await _save(turn, data)
            await _ask(turn, choice, variables)
    elif action == "e":
        rows = [
            [keyboards.button(localized(v.label, turn.language)[:60], "v", "j", position)]
            for position, v in enumerate(variables)
        ]
        rows.append([keyboards.button(turn.t("bot.button.back"), "v", "sum")])
        await turn.show(turn.t("bot.vars.edit_which"), keyboards.inline(rows))
    elif action == "j":
        position = _arg(turn, 1)
        if not 0 <= position < len(variables):
            raise InvalidInput("invalid_input")
        data["index"], data["editing"] = position, True
        await _save(turn, data)
        await _ask(turn, choice, variables)
    elif action == "sum":
        if index < len(variables) and not data.get("editing"):
            await turn.ack(turn.t("bot.button_expired"), alert=True)
            return
        data["index"] = len(variables)
        data.pop("editing", None)
        await _save(turn, data)
        await show_summary(turn, choice, variables)
    else:
        await turn.ack(turn.t("bot.button_expired"), alert=True)


def _arg(turn: Turn, position: int) -> int:
    try:
        return int(turn.args[position])
    except (IndexError, ValueError):
        raise InvalidInput("invalid_input") from None


async def show_summary(turn: Turn, choice: Choice, variables: list[PromptVariable]) -> None:
    """What will be sent: each question with its answer; Generate, Edit an answer, Cancel."""
    assert choice.prompt is not None
    answers = turn.data.get("answers") or {}
    lines = [turn.t("bot.vars.summary", prompt=choice.prompt.title, project=choice.project.name)]
    for variable in variables:
        value = answers.get(variable.name) or turn.t("bot.vars.empty")
        lines.append(f"• {localized(variable.label, turn.language)}: {value}")
    text = "\n".join(lines)
    if len(text) > 3500:
        text = text[:3500] + "…"
    rows = [[keyboards.button(turn.t("bot.vars.generate"), "g", "go")]]
    if variables:
        rows.append([keyboards.button(turn.t("bot.vars.edit"), "v", "e")])
    rows.append([keyboards.button(turn.t("bot.button.cancel"), "cancel")])
    await turn.show(text, keyboards.inline(rows))


TEXT_STATES = {VARS: answer_text}
RESUME_STATES = {VARS: ask_again}
CALLBACKS = {"v": press}
