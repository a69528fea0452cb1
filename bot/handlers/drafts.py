"""/drafts: the writer's own contents, paged; open one to read, edit, submit or delete it.

Callback data: ``dr:p:<page>`` (a page), ``dr:o:<id>`` (open), ``dr:t:<id>`` / ``dr:b:<id>``
(edit the title / body: the next text message is the new one, saved as a new version),
``dr:s:<id>`` (submit for review), ``dr:d:<id>`` then ``dr:dy:<id>`` (delete, confirmed),
``dr:u:<id>`` (unlock a content stuck in generating: ``GenerationService.unlock`` decides, and
refuses with when it may be unlocked while the generation may still be alive).
Every id is checked again by ``ContentService`` with the presser as the actor: a forged or stale
id is refused like any other unknown content.
"""

from __future__ import annotations

from bot import keyboards
from bot.texts import EDIT_KEPT, moment, unlock_when
from bot.turn import Turn
from core.errors import Conflict, NotFound, PermissionDenied
from db.models import Content, ContentStatus

EDIT_TITLE = "drafts.title"
EDIT_BODY = "drafts.body"
# The edit a generation lock refused, kept in the state until Unlock saves it.
PENDING = "pending"
# Room for the header and the buttons within Telegram's 4096 characters.
BODY_PREVIEW = 3500
_SUBMITTABLE = frozenset({ContentStatus.DRAFT, ContentStatus.REJECTED})
_EDITABLE = frozenset({ContentStatus.DRAFT, ContentStatus.REJECTED})


async def list_drafts(turn: Turn, page_number: int = 0) -> None:
    actor = turn.require_actor()
    first = await turn.services.content.list_contents(actor=actor, author_id=actor.user_id, limit=1)
    page = keyboards.Page.of(page_number, first.count)
    listing = await turn.services.content.list_contents(
        actor=actor, author_id=actor.user_id, offset=page.offset, limit=page.limit
    )
    contents = listing.items
    if not contents:
        await turn.show(
            turn.t("bot.drafts.empty"),
            keyboards.inline([[keyboards.button(turn.t("bot.button.back"), "cmd", "menu")]]),
        )
        return
    items = [
        (
            f"{_short(content.title, 40)} · {turn.t(f'bot.status.{content.status.value}')}",
            keyboards.data("dr", "o", content.id),
        )
        for content in contents
    ]
    await turn.show(
        turn.t("bot.drafts.title", count=first.count),
        keyboards.paged(turn.language, items, page, page_data=("dr", "p"), back=("cmd", "menu")),
    )


async def show_drafts(turn: Turn) -> None:
    await turn.clear_state()
    await list_drafts(turn)


async def open_content(turn: Turn, content: Content) -> None:
    status = ContentStatus(content.status)
    header = turn.t(
        "bot.drafts.header",
        title=content.title,
        status=turn.t(f"bot.status.{status.value}"),
        words=content.word_count,
        versions=content.version_count,
        updated=moment(turn.language, content.updated_at, turn.services.settings.zone),
    )
    body = content.body.strip() or turn.t("bot.drafts.no_body")
    if len(body) > BODY_PREVIEW:
        body = body[:BODY_PREVIEW].rstrip() + "…"
    rows = []
    if status is ContentStatus.GENERATING:
        lock = await _lock_notice(turn, content)
        if lock is not None:
            header = f"{header}\n\n{lock}"
            rows.append([keyboards.button(turn.t("bot.unlock.button"), "dr", "u", content.id)])
    if status in _EDITABLE:
        rows.append(
            [
                keyboards.button(turn.t("bot.drafts.button.edit_title"), "dr", "t", content.id),
                keyboards.button(turn.t("bot.drafts.button.edit_body"), "dr", "b", content.id),
            ]
        )
    actions = []
    if status in _SUBMITTABLE:
        actions.append(keyboards.button(turn.t("bot.drafts.button.submit"), "dr", "s", content.id))
    if status is not ContentStatus.GENERATING:
        actions.append(keyboards.button(turn.t("bot.drafts.button.delete"), "dr", "d", content.id))
    rows.append(actions)
    rows.append(
        [
            keyboards.button(turn.t("bot.button.back"), "dr", "p", 0),
            keyboards.button(turn.t("bot.button.cancel"), "cancel"),
        ]
    )
    await turn.show(f"{header}\n\n{body}", keyboards.inline(rows))


async def on_button(turn: Turn) -> None:
    actor = turn.require_actor()
    action, number = _parse(turn.args)
    if action == "p":
        await turn.clear_state()
        await list_drafts(turn, number)
        return
    content = await turn.services.content.get(actor=actor, content_id=number)
    if action == "o":
        await open_content(turn, content)
    elif action in ("t", "b"):
        await turn.set_state(EDIT_TITLE if action == "t" else EDIT_BODY, {"id": content.id})
        await turn.ack()
        key = "bot.drafts.send_title" if action == "t" else "bot.drafts.send_body"
        await turn.say(turn.t(key, title=content.title))
    elif action == "s":
        content = await turn.services.content.submit(actor=actor, content_id=content.id)
        await turn.ack(turn.t("bot.drafts.submitted"))
        await open_content(turn, content)
    elif action == "d":
        await turn.show(
            turn.t("bot.drafts.confirm_delete", title=content.title),
            keyboards.inline(
                [
                    [
                        keyboards.button(
                            turn.t("bot.drafts.button.delete_yes"), "dr", "dy", content.id
                        ),
                        keyboards.button(turn.t("bot.button.back"), "dr", "o", content.id),
                    ]
                ]
            ),
        )
    elif action == "u":
        content = await turn.services.generation.unlock(actor=actor, content_id=content.id)
        await turn.ack(turn.t("bot.unlock.done"))
        pending = turn.data.get(PENDING)
        if turn.state in (EDIT_TITLE, EDIT_BODY) and turn.data.get("id") == content.id and pending:
            await _save_edit(turn, content.id, pending)  # the edit the lock refused
        else:
            await open_content(turn, content)
    elif action == "dy":
        await turn.services.content.delete(actor=actor, content_id=content.id)
        await turn.ack(turn.t("bot.drafts.deleted"))
        await list_drafts(turn)
    else:
        raise NotFound()


async def ask_again(turn: Turn) -> None:
    """The edit's question anew, below whatever interrupted it; an edit already typed and kept
    for Unlock asks nothing (its message says so)."""
    if turn.data.get(PENDING):
        return
    content = await turn.services.content.get(
        actor=turn.require_actor(), content_id=int(turn.data.get("id", 0))
    )
    key = "bot.drafts.send_title" if turn.state == EDIT_TITLE else "bot.drafts.send_body"
    await turn.say(turn.t(key, title=content.title))


async def edited_text(turn: Turn) -> None:
    content_id = int(turn.data.get("id", 0))
    text = turn.text.strip()
    try:
        await _save_edit(turn, content_id, text)
    except Conflict as conflict:
        if conflict.code != "content_generating":
            raise
        # Kept until the lock is gone: Unlock saves it (on_button), nothing to type again.
        await turn.set_state(turn.state or EDIT_BODY, {"id": content_id, PENDING: text})
        conflict.params[EDIT_KEPT] = True
        raise


async def _save_edit(turn: Turn, content_id: int, text: str) -> None:
    """Save the title or body the writer sent (the state says which), then show the draft."""
    actor = turn.require_actor()
    field = "title" if turn.state == EDIT_TITLE else "body"
    content = await turn.services.content.update(
        actor=actor, content_id=content_id, **{field: text}
    )
    await turn.clear_state()
    await turn.say(turn.t("bot.drafts.saved", version=content.version_count))
    await open_content(turn, content)


async def _lock_notice(turn: Turn, content: Content) -> str | None:
    """Why it is locked and when its author may unlock it; None for whoever may not."""
    try:
        when = await turn.services.generation.unlock_at(
            actor=turn.require_actor(), content_id=content.id
        )
    except (Conflict, PermissionDenied):  # finished meanwhile, or not theirs to unlock
        return None
    now = when <= turn.services.clock.now()
    zone = turn.services.settings.zone
    lines = (turn.t("bot.unlock.locked"), unlock_when(turn.language, when, zone, now=now))
    return "\n".join(lines)


def _parse(args: list[str]) -> tuple[str, int]:
    """``[action, number]`` from the callback data; anything else is an unknown content."""
    if len(args) != 2 or not args[1].isdigit() or len(args[1]) > 12:
        raise NotFound()
    return args[0], int(args[1])


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


COMMANDS = {"drafts": show_drafts}
CALLBACKS = {"dr": on_button}
TEXT_STATES = {EDIT_TITLE: edited_text, EDIT_BODY: edited_text}
RESUME_STATES = {EDIT_TITLE: ask_again, EDIT_BODY: ask_again}
DESCRIPTIONS = {"drafts": "bot.command.drafts"}
