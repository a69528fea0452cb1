"""/prompt: a guided conversation that creates a prompt (editors and admins).

The steps, one question each: title, language, category, kind (what the prompt produces), the
template with ``{variables}``, then for every variable the template names (in order of first
use) its label, help text, type, then by type its choices (choice), longest answer (short and
long text) or smallest and largest value (number), then its default and whether it may be
skipped; then a summary with Save. The kind, help text, longest answer and bounds are optional
as in ``core``: each has a Skip button (the kind then is ``core``'s default).
Each answer is checked as it comes, by the same ``core`` rules that check a saved prompt, and a
bad one is told and asked again; the whole prompt (the render bound included) is checked by
``PromptService.check_prompt`` before the summary and saved by ``create_prompt`` with the
actor, which decides the role.

The answers live in the conversation state (``core/services/conversations.py``), so a restart
continues at the same question. Back walks one question back through the same sequence; the
answers given stay until answered again.

Callback data: ``prm:o:<org>`` (organisation picked), ``prm:lang:<fa|en>``,
``prm:cat:<category>``, ``prm:kind:<kind>``, then for variable ``i``: ``prm:type:<i>:<type>``,
``prm:def:<i>:<index of a choice>``, ``prm:nodef:<i>``, ``prm:req:<i>:<1|0>``;
``prm:skip:<i>:<step>`` (Skip an optional question; ``i`` is 0 for the kind); ``prm:b`` (Back),
``prm:save``. A press whose step (or variable) is not the current one is stale and changes
nothing.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from bot import keyboards
from bot.admin import int_arg, organizations_for, with_organization
from bot.texts import error_text
from bot.turn import Turn
from core.errors import InvalidInput, PermissionDenied
from core.presentation import digits
from core.services.common import clean_name
from core.services.permissions import Action
from core.services.prompts import (
    DEFAULT_KIND,
    MAX_CHOICES,
    TEXT_LIMITS,
    PromptVariable,
    VariableType,
    check_answer,
    template_variables,
)
from core.text.normalize import normalize_digits
from db.models import GenerationKind, Language, PromptCategory, Role

PROMPT = "admin.prompt"
# Steps answered by a button rather than a message.
BUTTON_STEPS = {"language", "category", "kind", "type", "required", "summary"}
# Optional questions: each has a Skip button that leaves its answer unset.
SKIPPABLE = {"kind", "help", "max_length", "min", "max"}
SUMMARY_TEMPLATE_CHARS = 1_000  # a long template is shortened in the summary (one message)
MESSAGE_CHARS = 4_000  # under Telegram's 4,096: the summary of 30 variables with choices

Step = tuple[str, int]  # (step name, variable index; 0 for the prompt's own steps)


# -- where the conversation stands -----------------------------------------------------------


def sequence(data: dict[str, Any]) -> list[Step]:
    """Every question of this prompt in order, from the answers given so far."""
    steps: list[Step] = [
        ("title", 0), ("language", 0), ("category", 0), ("kind", 0), ("template", 0)
    ]  # fmt: skip
    for index, variable in enumerate(data.get("vars", [])):
        steps += [("label", index), ("help", index), ("type", index)]
        kind = variable.get("type")
        if kind == VariableType.CHOICE:
            steps.append(("choices", index))
        elif kind in TEXT_LIMITS:
            steps.append(("max_length", index))
        elif kind == VariableType.NUMBER:
            steps += [("min", index), ("max", index)]
        steps += [("default", index), ("required", index)]
    steps.append(("summary", 0))
    return steps


def current(data: dict[str, Any]) -> Step:
    return str(data.get("step", "title")), int(data.get("i", 0))


def _moved(data: dict[str, Any], by: int) -> dict[str, Any] | None:
    """``data`` at the question ``by`` places away, or ``None`` when there is none."""
    steps = sequence(data)
    try:
        position = steps.index(current(data)) + by
    except ValueError:
        position = len(steps) - 1  # answers changed under the step: go to the summary
    if not 0 <= position < len(steps):
        return None
    step, index = steps[position]
    return {**data, "step": step, "i": index}


# -- starting --------------------------------------------------------------------------------


async def prompt(turn: Turn) -> None:
    await turn.clear_state()
    await with_organization(turn, Action.MANAGE_PROMPTS, "prm", _start)


async def _start(turn: Turn, organization_id: int) -> None:
    data: dict[str, Any] = {"org": organization_id, "step": "title", "i": 0, "vars": []}
    await _go(turn, data)


# -- asking ----------------------------------------------------------------------------------


async def _go(turn: Turn, data: dict[str, Any], problem: str | None = None) -> None:
    """Store ``data`` and ask its current question (after ``problem``, a retry, if any)."""
    if current(data)[0] == "summary":
        try:
            await _check(turn, data)
        except InvalidInput as exc:
            # The whole prompt does not pass (e.g. the render bound): the template is what
            # changes that, so it is asked again with the reason.
            data = {**data, "step": "template", "i": 0}
            problem = error_text(turn.language, exc)
    await turn.set_state(PROMPT, data)
    text, rows = _question(turn, data)
    rows.append(_back_and_cancel(turn, data))
    markup = keyboards.inline(rows)
    if problem is not None:
        await turn.say(f"{problem}\n\n{text}", markup)
    else:
        await turn.show(text, markup)


async def ask_again(turn: Turn) -> None:
    """The current question anew, below whatever interrupted the wizard."""
    data = dict(turn.data)
    text, rows = _question(turn, data)
    rows.append(_back_and_cancel(turn, data))
    await turn.say(text, keyboards.inline(rows))


def _question(turn: Turn, data: dict[str, Any]) -> tuple[str, list[list[Any]]]:
    """The text and the answer buttons of the current question."""
    step, index = current(data)
    if step == "title":
        return _with_current(turn, "bot.prompt.ask.title", data.get("title")), []
    if step == "language":
        buttons = [
            keyboards.button(turn.t(f"bot.prompt.language.{lang.value}"), "prm", "lang", lang.value)
            for lang in Language
        ]
        return turn.t("bot.prompt.ask.language"), [buttons]
    if step == "category":
        rows = [
            [keyboards.button(turn.t(f"bot.prompt.category.{c.value}"), "prm", "cat", c.value)]
            for c in PromptCategory
        ]
        return turn.t("bot.prompt.ask.category"), rows
    if step == "kind":
        rows = [
            [keyboards.button(turn.t(f"bot.gen.kind.{kind.value}"), "prm", "kind", kind.value)]
            for kind in GenerationKind
        ]
        rows.append([_skip(turn, "kind", 0)])
        shown = turn.t(f"bot.gen.kind.{DEFAULT_KIND.value}")
        return turn.t("bot.prompt.ask.kind", default=shown), rows
    if step == "template":
        return _with_current(turn, "bot.prompt.ask.template", data.get("template")), []
    if step == "summary":
        save = keyboards.button(turn.t("bot.prompt.button.save"), "prm", "save")
        return _summary(turn, data), [[save]]
    variable = data["vars"][index]
    head = turn.t(
        "bot.prompt.variable",
        number=index + 1,
        count=len(data["vars"]),
        name=variable["name"],
    )
    if step == "label":
        return head + "\n" + _with_current(turn, "bot.prompt.ask.label", variable.get("label")), []
    if step == "help":
        text = _with_current(turn, "bot.prompt.ask.help", variable.get("help"))
        return head + "\n" + text, [[_skip(turn, step, index)]]
    if step == "max_length":
        most = TEXT_LIMITS[VariableType(variable["type"])]
        shown = _shown_number(turn, variable.get("max_length"))
        text = _with_current(turn, "bot.prompt.ask.max_length", shown, most=most)
        return head + "\n" + text, [[_skip(turn, step, index)]]
    if step in ("min", "max"):
        shown = _shown_number(turn, variable.get(step))
        text = _with_current(turn, f"bot.prompt.ask.{step}", shown)
        return head + "\n" + text, [[_skip(turn, step, index)]]
    if step == "type":
        rows = [
            [
                keyboards.button(
                    turn.t(f"bot.prompt.type.{kind.value}"), "prm", "type", index, kind.value
                )
            ]
            for kind in VariableType
        ]
        return head + "\n" + turn.t("bot.prompt.ask.type"), rows
    if step == "choices":
        shown = "\n".join(variable.get("choices") or []) or None
        text = _with_current(turn, "bot.prompt.ask.choices", shown, most=MAX_CHOICES)
        return head + "\n" + text, []
    if step == "default":
        rows = [
            [keyboards.button(choice, "prm", "def", index, number)]
            for number, choice in enumerate(variable.get("choices") or [])
        ]
        no_default = turn.t("bot.prompt.button.no_default")
        rows.append([keyboards.button(no_default, "prm", "nodef", index)])
        key = "bot.prompt.ask.default_choice" if rows[:-1] else "bot.prompt.ask.default"
        return head + "\n" + _with_current(turn, key, variable.get("default")), rows
    # required
    rows = [
        [keyboards.button(turn.t("bot.prompt.button.required"), "prm", "req", index, 1)],
        [keyboards.button(turn.t("bot.prompt.button.optional"), "prm", "req", index, 0)],
    ]
    return head + "\n" + turn.t("bot.prompt.ask.required"), rows


def _skip(turn: Turn, step: str, index: int) -> Any:
    return keyboards.button(turn.t("bot.prompt.button.skip"), "prm", "skip", index, step)


def _shown_number(turn: Turn, value: int | str | None) -> str | None:
    """A number answered before, in the reader's digits."""
    return None if value is None else digits(turn.language, str(value))


def _with_current(turn: Turn, key: str, answer: str | None, **params: Any) -> str:
    """The question, and the answer given before when the person came back to it."""
    text = turn.t(key, **params)
    if answer:
        if len(answer) > SUMMARY_TEMPLATE_CHARS:  # a long template: its start is enough
            answer = answer[:SUMMARY_TEMPLATE_CHARS].rstrip() + "…"
        text += "\n\n" + turn.t("bot.prompt.current_answer", answer=answer)
    return text


def _back_and_cancel(turn: Turn, data: dict[str, Any]) -> list[Any]:
    row = []
    if current(data) != sequence(data)[0]:
        row.append(keyboards.button(turn.t("bot.button.back"), "prm", "b"))
    row.append(keyboards.button(turn.t("bot.button.cancel"), "cancel"))
    return row


def _summary(turn: Turn, data: dict[str, Any]) -> str:
    template = data["template"]
    if len(template) > SUMMARY_TEMPLATE_CHARS:
        template = template[:SUMMARY_TEMPLATE_CHARS].rstrip() + "…"
    lines = [
        turn.t(
            "bot.prompt.summary",
            title=data["title"],
            prompt_language=turn.t(f"bot.prompt.language.{data['language']}"),
            category=turn.t(f"bot.prompt.category.{data['category']}"),
            kind=turn.t(f"bot.gen.kind.{data.get('kind') or DEFAULT_KIND.value}"),
            template=template,
        )
    ]
    if not data["vars"]:
        lines.append(turn.t("bot.prompt.summary.no_variables"))
    for variable in data["vars"]:
        parts = [
            turn.t(f"bot.prompt.type.{variable['type']}"),
            turn.t(
                "bot.prompt.summary.required"
                if variable["required"]
                else "bot.prompt.summary.optional"
            ),
        ]
        if variable.get("choices"):
            parts.append(
                turn.t("bot.prompt.summary.choices", choices="، ".join(variable["choices"]))
            )
        parts += _summary_bounds(turn, variable)
        if variable.get("default") is not None:
            parts.append(turn.t("bot.prompt.summary.default", default=variable["default"]))
        lines.append(
            turn.t(
                "bot.prompt.summary.variable",
                label=variable["label"],
                name=variable["name"],
                details=("، " if turn.language == "fa" else ", ").join(parts),
            )
        )
        if variable.get("help"):
            lines.append(turn.t("bot.prompt.summary.help", help=variable["help"]))
    text = "\n".join(lines)
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def _summary_bounds(turn: Turn, variable: dict[str, Any]) -> list[str]:
    """The longest answer of a text, the range of a number, as the summary lists them."""
    if variable.get("max_length") is not None:
        return [turn.t("bot.prompt.summary.max_length", most=int(variable["max_length"]))]
    low = _shown_number(turn, variable.get("min"))
    high = _shown_number(turn, variable.get("max"))
    if low is not None and high is not None:
        return [turn.t("bot.prompt.summary.range", min=low, max=high)]
    if low is not None:
        return [turn.t("bot.prompt.summary.min", min=low)]
    if high is not None:
        return [turn.t("bot.prompt.summary.max", max=high)]
    return []


# -- answers typed ---------------------------------------------------------------------------


async def typed(turn: Turn) -> None:
    """A message in the conversation: the answer to a text question, checked, then the next."""
    data = dict(turn.data)
    step, index = current(data)
    if step in BUTTON_STEPS:
        await _go(turn, data, problem=turn.t("bot.prompt.use_buttons"))
        return
    text = turn.text.strip()
    try:
        if step == "title":
            data["title"] = clean_name(text, field="title")
        elif step == "template":
            data["template"] = turn.text
            data["vars"] = _declared(data, template_variables(turn.text))
        elif step == "label":
            _variable(data, index)["label"] = _checked_label(turn, data, index, text)
        elif step == "help":
            _variable(data, index)["help"] = _checked_help(turn, data, index, text)
        elif step == "max_length":
            _constrain(data, index, "max_length", _checked_max_length(turn, data, index, text))
        elif step in ("min", "max"):
            _constrain(data, index, step, _checked_bound(turn, data, index, step, text))
        elif step == "choices":
            _variable(data, index)["choices"] = _checked_choices(turn, data, index, text)
        elif step == "default":
            _variable(data, index)["default"] = _checked_default(turn, data, index, text)
    except InvalidInput as exc:
        await _go(turn, data, problem=error_text(turn.language, exc))
        return
    except _Retry as retry:
        await _go(turn, data, problem=retry.text)
        return
    await _go(turn, _moved(data, 1) or data)


class _Retry(Exception):
    """A bad answer, with the text that says why."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _declared(data: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    """A variable for each name, keeping what was answered for a name already known."""
    known = {variable["name"]: variable for variable in data.get("vars", [])}
    declared = []
    for name in names:
        try:
            PromptVariable(name=name, label=name)
        except ValidationError:  # pragma: no cover - placeholders() finds valid names only
            continue
        declared.append(known.get(name, {"name": name}))
    return declared


def _variable(data: dict[str, Any], index: int) -> dict[str, Any]:
    variables = [dict(v) for v in data["vars"]]
    data["vars"] = variables
    return variables[index]


def _checked_label(turn: Turn, data: dict[str, Any], index: int, text: str) -> str:
    try:
        return str(PromptVariable(name=data["vars"][index]["name"], label=text).label)
    except ValidationError:
        raise _Retry(turn.t("bot.prompt.bad_label")) from None


def _checked_help(turn: Turn, data: dict[str, Any], index: int, text: str) -> str:
    variable = data["vars"][index]
    try:
        checked = PromptVariable(name=variable["name"], label=variable["label"], help=text)
    except ValidationError:
        raise _Retry(turn.t("bot.prompt.bad_help")) from None
    return str(checked.help)


def _checked_max_length(turn: Turn, data: dict[str, Any], index: int, text: str) -> int:
    """A whole number of characters from 1 up to what the type allows (Persian digits too)."""
    most = TEXT_LIMITS[VariableType(data["vars"][index]["type"])]
    plain = normalize_digits(text).translate(_THOUSANDS)
    if not plain.isascii() or not plain.isdigit() or not 1 <= int(plain) <= most:
        raise _Retry(turn.t("bot.prompt.bad_max_length", most=most))
    return int(plain)


# Thousands separators a person may type in a count: Persian, Arabic comma, ASCII comma.
_THOUSANDS = str.maketrans({"\u066c": None, "\u060c": None, ",": None})


def _checked_bound(turn: Turn, data: dict[str, Any], index: int, step: str, text: str) -> str:
    """The smallest or largest value of a number (as ``core`` reads numbers), in ASCII; the
    other bound, when set, must leave a range (the smallest at most the largest)."""
    variable = data["vars"][index]
    number = PromptVariable(name=variable["name"], label=variable["label"], type="number")
    try:
        bound = check_answer(number, text)
    except InvalidInput:
        raise _Retry(turn.t("bot.prompt.bad_number")) from None
    if not bound:
        raise _Retry(turn.t("bot.prompt.bad_number"))
    low, high = (bound, variable.get("max")) if step == "min" else (variable.get("min"), bound)
    if low is not None and high is not None and float(low) > float(high):
        shown = {"min": digits(turn.language, low), "max": digits(turn.language, high)}
        raise _Retry(turn.t("bot.prompt.bad_range", **shown))
    return bound


def _constrain(data: dict[str, Any], index: int, key: str, value: Any) -> None:
    """Set (or, with ``None``, clear) a length or bound; a default it no longer admits is
    dropped (the default's question comes next, so the person sets one that fits)."""
    variable = _variable(data, index)
    variable[key] = value
    if variable.get("default") is None:
        return
    try:
        PromptVariable(**_core_fields(variable))
    except ValidationError:
        variable["default"] = None


def _checked_choices(turn: Turn, data: dict[str, Any], index: int, text: str) -> list[str]:
    """One choice a line (or, on one line, separated by commas)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) == 1:
        lines = [part for part in lines[0].replace("،", ",").split(",") if part.strip()]
    variable = data["vars"][index]
    try:
        checked = PromptVariable(
            name=variable["name"], label=variable["label"], type=VariableType.CHOICE, choices=lines
        )
    except ValidationError:
        raise _Retry(turn.t("bot.prompt.bad_choices", most=MAX_CHOICES)) from None
    return list(checked.choices or [])


def _checked_default(turn: Turn, data: dict[str, Any], index: int, text: str) -> str:
    """The default as ``core`` stores it (a number in ASCII digits); its refusal otherwise,
    with the bounds it names in the reader's digits."""
    variable = data["vars"][index]
    plain = PromptVariable(**{k: v for k, v in _core_fields(variable).items() if k != "default"})
    if not text:
        raise InvalidInput("variable_required", name=variable["name"])
    try:
        return check_answer(plain, text)
    except InvalidInput as exc:
        params = {
            key: digits(turn.language, value)
            if isinstance(value, str) and _NUMERIC.fullmatch(value)
            else value
            for key, value in exc.params.items()
        }
        raise _Retry(turn.t(f"error.{exc.code}", **params)) from None


_NUMERIC = re.compile(r"-?\d+(?:\.\d+)?", re.ASCII)  # a bound as ``core`` names it (``5``, ``2.5``)


def _core_fields(variable: dict[str, Any]) -> dict[str, Any]:
    """The variable as ``PromptService`` takes it (only the fields this conversation asks)."""
    fields = {
        "name": variable["name"],
        "label": variable["label"],
        "type": variable["type"],
        "required": bool(variable.get("required", False)),
        "default": variable.get("default"),
    }
    if variable.get("type") == VariableType.CHOICE:
        fields["choices"] = variable.get("choices")
    if variable.get("help"):
        fields["help"] = variable["help"]
    if variable.get("type") in TEXT_LIMITS and variable.get("max_length") is not None:
        fields["max_length"] = int(variable["max_length"])
    if variable.get("type") == VariableType.NUMBER:
        for step, field in (("min", "min_value"), ("max", "max_value")):
            if variable.get(step) is not None:
                fields[field] = float(variable[step])
    return fields


# -- answers pressed -------------------------------------------------------------------------


async def on_button(turn: Turn) -> None:
    action = turn.args[0] if turn.args else ""
    if action == "o":
        await _picked_organization(turn)
        return
    if turn.state != PROMPT:
        await turn.ack(turn.t("bot.button_expired"), alert=True)
        return
    data = dict(turn.data)
    step, index = current(data)
    value = turn.args[1] if len(turn.args) > 1 else ""
    if action in ("type", "def", "nodef", "req", "skip"):
        # A variable's buttons name the variable: one left on an earlier question is stale.
        if value != str(index):
            await turn.ack(turn.t("bot.button_expired"), alert=True)
            return
        value = turn.args[2] if len(turn.args) > 2 else ""
    if action == "b":
        await _go(turn, _moved(data, -1) or data)
    elif action == "lang" and step == "language" and value in Language._value2member_map_:
        await _go(turn, _moved({**data, "language": value}, 1) or data)
    elif action == "cat" and step == "category" and value in PromptCategory._value2member_map_:
        await _go(turn, _moved({**data, "category": value}, 1) or data)
    elif action == "kind" and step == "kind" and value in GenerationKind._value2member_map_:
        await _go(turn, _moved({**data, "kind": value}, 1) or data)
    elif action == "skip" and step == value and step in SKIPPABLE:
        await _go(turn, _moved(_skipped(data, step, index), 1) or data)
    elif action == "type" and step == "type" and value in VariableType._value2member_map_:
        variable = _variable(data, index)
        if variable.get("type") != value:
            # A default, length or bounds of another type would not fit.
            for key in ("default", "max_length", "min", "max"):
                variable.pop(key, None)
        variable["type"] = value
        if value != VariableType.CHOICE:
            variable.pop("choices", None)
        await _go(turn, _moved(data, 1) or data)
    elif action == "def" and step == "default" and (choice := _choice(data, index, value)):
        _variable(data, index)["default"] = choice
        await _go(turn, _moved(data, 1) or data)
    elif action == "nodef" and step == "default":
        _variable(data, index)["default"] = None
        await _go(turn, _moved(data, 1) or data)
    elif action == "req" and step == "required" and value in ("0", "1"):
        _variable(data, index)["required"] = value == "1"
        await _go(turn, _moved(data, 1) or data)
    elif action == "save" and step == "summary":
        await _save(turn, data)
    else:
        await turn.ack(turn.t("bot.button_expired"), alert=True)


def _skipped(data: dict[str, Any], step: str, index: int) -> dict[str, Any]:
    """``data`` with the optional answer of ``step`` unset (the kind: ``core``'s default)."""
    if step == "kind":
        return {**data, "kind": DEFAULT_KIND.value}
    if step == "help":
        _variable(data, index)["help"] = None
    else:
        _constrain(data, index, step, None)
    return data


async def _picked_organization(turn: Turn) -> None:
    organization_id = int_arg(turn, 1)
    allowed = {m.organization_id for m in await organizations_for(turn, Action.MANAGE_PROMPTS)}
    if organization_id not in allowed:
        raise PermissionDenied(action=Action.MANAGE_PROMPTS.value)
    await turn.clear_state()
    await _start(turn, organization_id)  # type: ignore[arg-type]


def _choice(data: dict[str, Any], index: int, value: str) -> str | None:
    choices = data["vars"][index].get("choices") or []
    return choices[int(value)] if value.isdigit() and int(value) < len(choices) else None


async def _check(turn: Turn, data: dict[str, Any]) -> None:
    turn.services.prompts.check_prompt(
        title=data["title"],
        template=data["template"],
        variables=[_core_fields(v) for v in data["vars"]],
    )


async def _save(turn: Turn, data: dict[str, Any]) -> None:
    created = await turn.services.prompts.create_prompt(
        actor=turn.require_actor(),
        organization_id=int(data["org"]),
        title=data["title"],
        template=data["template"],
        variables=[_core_fields(v) for v in data["vars"]],
        category=PromptCategory(data["category"]),
        kind=GenerationKind(data.get("kind") or DEFAULT_KIND),
        language=Language(data["language"]),
    )
    await turn.clear_state()
    await turn.show(turn.t("bot.prompt.saved", title=created.title))


COMMANDS = {"prompt": prompt}
CALLBACKS = {"prm": on_button}
TEXT_STATES = {PROMPT: typed}
RESUME_STATES = {PROMPT: ask_again}
DESCRIPTIONS = {"prompt": "bot.command.prompt"}
MENU_ROLES = {"prompt": Role.EDITOR}
