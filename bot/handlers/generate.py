"""Generate: the kind where the prompt allows a choice, then the draft streams into the chat.

``g:go`` (from the summary) creates the content with the answers and starts the generation
through ``core``; ``g:k:<kind>`` picks the kind first when several are allowed. The stream runs
in its own task (``bot/streaming.py``); the conversation waits in state ``compose.generating``
so ``/cancel`` stops the job (``ON_CANCEL``). The final message offers Submit for review
(``g:sub:<content>``), Regenerate (``g:re:<content>``), Export (``g:xm:<content>`` .md,
``g:xd:<content>`` .docx, built by ``bot/export.py``) and New. A usage-limit refusal names the
limit and when it resets in the reader's calendar; a model failure says nothing was charged.
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, InputFile
from telegram.constants import ChatType

from bot import keyboards
from bot.export import to_docx, to_markdown
from bot.handlers.variables import VARS, current
from bot.streaming import stream_answer
from bot.texts import error_text, moment
from bot.turn import Turn
from core.errors import InvalidInput
from core.services.prompts import PromptVariable
from core.services.usage import UsageLimitExceeded
from db.models import GenerationKind

GENERATING = "compose.generating"
TITLE_LENGTH = 120


def final_buttons(turn: Turn, content_id: int) -> InlineKeyboardMarkup:
    rows = [
        [keyboards.button(turn.t("bot.gen.submit"), "g", "sub", content_id)],
        [keyboards.button(turn.t("bot.gen.regenerate"), "g", "re", content_id)],
    ]
    rows.append(
        [
            keyboards.button(turn.t("bot.gen.export_md"), "g", "xm", content_id),
            keyboards.button(turn.t("bot.gen.export_docx"), "g", "xd", content_id),
        ]
    )
    rows.append([keyboards.button(turn.t("bot.gen.new"), "cmd", "new")])
    return keyboards.inline(rows)


def failed_buttons(turn: Turn, content_id: int) -> InlineKeyboardMarkup:
    return keyboards.inline(
        [
            [keyboards.button(turn.t("bot.gen.regenerate"), "g", "re", content_id)],
            [keyboards.button(turn.t("bot.gen.new"), "cmd", "new")],
        ]
    )


async def press(turn: Turn) -> None:
    action = turn.args[0] if turn.args else ""
    if action == "go":
        await _go(turn, kind=None)
    elif action == "k":
        try:
            kind = GenerationKind(turn.args[1])
        except (IndexError, ValueError):
            raise InvalidInput("invalid_input") from None
        await _go(turn, kind=kind)
    elif action == "re":
        await _regenerate(turn, _id(turn))
    elif action in ("xm", "xd"):
        await _export(turn, _id(turn), docx=action == "xd")
    elif action == "sub":
        await turn.services.content.submit(actor=turn.require_actor(), content_id=_id(turn))
        await turn.ack()
        await turn.say(turn.t("bot.gen.submitted"))
    else:
        await turn.ack(turn.t("bot.button_expired"), alert=True)


async def _export(turn: Turn, content_id: int, *, docx: bool) -> None:
    """The content as a ``.md`` or ``.docx`` file (read through core: the actor must see it)."""
    content = await turn.services.content.get(actor=turn.require_actor(), content_id=content_id)
    if docx:
        name, data = await to_docx(content.title, content.body, rtl=_is_rtl(content.body))
    else:
        name, data = to_markdown(content.title, content.body)
    await turn.ack()
    await turn.context.bot.send_document(turn.chat_id, InputFile(data, filename=name))


def _is_rtl(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    persian = sum(1 for c in letters if "\u0600" <= c <= "\u06ff")
    return bool(letters) and persian * 2 >= len(letters)


def _id(turn: Turn) -> int:
    try:
        return int(turn.args[1])
    except (IndexError, ValueError):
        raise InvalidInput("invalid_input") from None


async def _go(turn: Turn, *, kind: GenerationKind | None) -> None:
    if turn.state != VARS:
        await turn.ack(turn.t("bot.button_expired"), alert=True)
        return
    actor = turn.require_actor()
    choice, variables, data = await current(turn)
    if int(data.get("index", 0)) < len(variables):
        await turn.ack(turn.t("bot.button_expired"), alert=True)
        return
    kinds = choice.kinds
    if kind is None and len(kinds) > 1:
        rows = [
            [keyboards.button(turn.t(f"bot.gen.kind.{k.value}"), "g", "k", k.value)] for k in kinds
        ]
        rows.append([keyboards.button(turn.t("bot.button.cancel"), "cancel")])
        await turn.show(turn.t("bot.gen.pick_kind"), keyboards.inline(rows))
        return
    if kind is not None and kind not in kinds:
        raise InvalidInput("invalid_input")
    assert choice.prompt is not None
    answers = {str(k): str(v) for k, v in (data.get("answers") or {}).items()}
    content = await turn.services.content.create(
        actor=actor,
        project_id=choice.project.id,
        title=_title(choice.prompt.title, answers, variables),
        prompt_id=choice.prompt.id,
        variables=answers,
    )
    await _start(turn, content.id, kind or kinds[0], delete_on_refusal=True)


async def _regenerate(turn: Turn, content_id: int) -> None:
    await _start(turn, content_id, None, delete_on_refusal=False)


async def _start(
    turn: Turn, content_id: int, kind: GenerationKind | None, *, delete_on_refusal: bool
) -> None:
    actor = turn.require_actor()
    services = turn.services
    try:
        job = await services.generation.start(actor=actor, content_id=content_id, kind=kind)
    except UsageLimitExceeded as refusal:
        if delete_on_refusal:
            await services.content.delete(actor=actor, content_id=content_id)
        await turn.clear_state()
        await turn.show(_limit_text(turn, refusal))
        return
    await turn.set_state(GENERATING, {"job": job.id, "content": content_id})
    await turn.ack()
    chat = turn.update.effective_chat
    turn.context.application.create_task(
        stream_answer(
            turn.context.application,
            services,
            actor=actor,
            chat_id=turn.chat_id,
            private=chat is not None and chat.type == ChatType.PRIVATE,
            language=turn.language,
            job_id=job.id,
            content_id=content_id,
            final_buttons=final_buttons(turn, content_id),
            failed_buttons=failed_buttons(turn, content_id),
        ),
        name=f"stream-job-{job.id}",
    )


def _limit_text(turn: Turn, refusal: UsageLimitExceeded) -> str:
    """Which limit refused, and when it resets, in the reader's calendar and digits."""
    when = moment(turn.language, refusal.resets_at, turn.services.settings.zone)
    return "\n".join(
        [error_text(turn.language, refusal), turn.t("bot.gen.limit_resets", when=when)]
    )


def _title(prompt_title: str, answers: dict[str, str], variables: list[PromptVariable]) -> str:
    """The first text answer (the topic, usually), else the prompt's title."""
    for variable in variables:
        value = (answers.get(variable.name) or "").strip()
        if value and variable.type.value in ("text", "long_text"):
            return " ".join(value.split())[:TITLE_LENGTH]
    return prompt_title[:TITLE_LENGTH]


async def while_generating(turn: Turn) -> None:
    """A message while a draft streams: say so (``/cancel`` stops it), or move on if done."""
    job_id = int(turn.data.get("job", 0) or 0)
    if job_id and turn.services.generation.is_running(job_id):
        await turn.say(turn.t("bot.gen.busy"))
        return
    await turn.clear_state()
    from bot.handlers.home import unknown_input

    await unknown_input(turn)


async def on_cancel(turn: Turn) -> None:
    """``/cancel``: stop the job this conversation is streaming."""
    if turn.state != GENERATING or turn.actor is None:
        return
    job_id = int(turn.data.get("job", 0) or 0)
    if job_id:
        await turn.services.generation.cancel(actor=turn.actor, job_id=job_id)


CALLBACKS = {"g": press}
TEXT_STATES = {GENERATING: while_generating}
ON_CANCEL = on_cancel
