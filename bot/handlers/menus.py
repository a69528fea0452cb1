"""/new: pick where to write and with which prompt, from paged menus with Back and Cancel.

The pickers keep no state: every button carries the ids it needs (``new:<step>:<id>…``, at
most 64 bytes) and every press goes through ``ComposeService``, which re-checks the ids for
the presser, so a forged or stale button is refused like an unknown id. The last choice is
offered first ("continue in X / Y"). Choosing a prompt hands over to ``bot/handlers/variables``.

Callback data:
``new:o:<page>`` organisations; ``new:w:<org>:<page>`` workspaces; ``new:p:<ws>:<page>``
projects; ``new:t:<project>:<page>`` prompts; ``new:go:<project>:<prompt>`` chosen;
``new:pick`` choose anew (the "continue in X / Y" button is a ``new:go``).
"""

from __future__ import annotations

from bot import keyboards
from bot.turn import Turn
from core.errors import InvalidInput
from core.services.compose import Option, Page


def _int(turn: Turn, index: int) -> int:
    """The ``index``-th id of the callback data; forged non-numbers are refused."""
    try:
        value = int(turn.args[index])
    except (IndexError, ValueError):
        raise InvalidInput("invalid_input") from None
    if value < 0 or value > 2**62:
        raise InvalidInput("invalid_input")
    return value


async def new(turn: Turn) -> None:
    """Start composing: the last choice first when it is still usable, else the pickers."""
    actor = turn.require_actor()
    last = await turn.services.compose.last_choice(actor=actor)
    if last is None or last.prompt is None:
        await _first_step(turn)
        return
    text = turn.t(
        "bot.new.last",
        workspace=last.workspace.name,
        project=last.project.name,
        prompt=last.prompt.title,
    )
    rows = [
        [
            keyboards.button(
                turn.t("bot.new.continue", project=last.project.name, prompt=last.prompt.title)[
                    :60
                ],
                "new",
                "go",
                last.project.id,
                last.prompt.id,
            )
        ],
        [keyboards.button(turn.t("bot.new.other"), "new", "pick")],
        [keyboards.button(turn.t("bot.button.cancel"), "cancel")],
    ]
    await turn.show(text, keyboards.inline(rows))


async def _first_step(turn: Turn, page: int = 0) -> None:
    actor = turn.require_actor()
    organizations = await turn.services.compose.organizations(actor=actor, page=page)
    if organizations.count == 1:
        await _workspaces(turn, organizations.items[0].id, 0, back=None)
        return
    if organizations.count == 0:
        await turn.show(turn.t("bot.new.no_organization"))
        return
    await _menu(turn, "bot.new.pick_organization", organizations, ("new", "o"), "w", back=None)


async def _workspaces(turn: Turn, organization_id: int, page: int, *, back: bool | None) -> None:
    actor = turn.require_actor()
    compose = turn.services.compose
    listing = await compose.workspaces(actor=actor, organization_id=organization_id, page=page)
    if back is None:  # is there an organisation step to go back to?
        back = (await compose.organizations(actor=actor)).count > 1
    await _menu(
        turn,
        "bot.new.pick_workspace",
        listing,
        ("new", "w", organization_id),
        "p",
        back=("new", "o", 0) if back else None,
    )


async def _menu(
    turn: Turn,
    title: str,
    listing: Page,
    page_data: tuple[object, ...],
    next_step: str,
    *,
    back: tuple[object, ...] | None,
    item_data=None,  # type: ignore[no-untyped-def]
) -> None:
    """One page of a picker: a button per option, page turns, Back and Cancel."""
    items = [
        (
            _label(turn, option),
            keyboards.data(*(item_data(option) if item_data else ("new", next_step, option.id, 0))),
        )
        for option in listing.items
    ]
    page = keyboards.Page.of(listing.page, listing.count)
    text = turn.t(title) if listing.items else turn.t("bot.new.empty")
    await turn.show(
        text, keyboards.paged(turn.language, items, page, page_data=page_data, back=back)
    )


def _label(turn: Turn, option: Option) -> str:
    if option.language is None:
        return option.title
    return turn.t(
        "bot.new.prompt_label",
        title=option.title,
        language=turn.t(f"bot.new.language.{option.language}"),
        category=turn.t(f"bot.new.category.{option.category}"),
    )


async def step(turn: Turn) -> None:
    """Every ``new:`` button."""
    actor = turn.require_actor()
    compose = turn.services.compose
    action = turn.args[0] if turn.args else ""
    if action == "o":
        await _first_step(turn, _int(turn, 1))
    elif action == "w":
        await _workspaces(turn, _int(turn, 1), _int(turn, 2), back=None)
    elif action == "p":
        workspace_id = _int(turn, 1)
        listing = await compose.projects(actor=actor, workspace_id=workspace_id, page=_int(turn, 2))
        workspace = await turn.services.catalog.get_workspace(
            actor=actor, workspace_id=workspace_id
        )
        await _menu(
            turn,
            "bot.new.pick_project",
            listing,
            ("new", "p", workspace_id),
            "t",
            back=("new", "w", workspace.organization_id, 0),
        )
    elif action == "t":
        project_id = _int(turn, 1)
        listing = await compose.prompts(actor=actor, project_id=project_id, page=_int(turn, 2))
        place = await compose.check(actor=actor, project_id=project_id, prompt_id=None)
        await _menu(
            turn,
            "bot.new.pick_prompt",
            listing,
            ("new", "t", project_id),
            "go",
            back=("new", "p", place.workspace.id, 0),
            item_data=lambda option: ("new", "go", project_id, option.id),
        )
    elif action == "go":
        await _chosen(turn, _int(turn, 1), _int(turn, 2))
    elif action == "pick":
        await _first_step(turn)
    else:
        await turn.ack(turn.t("bot.button_expired"), alert=True)


async def _chosen(turn: Turn, project_id: int, prompt_id: int) -> None:
    from bot.handlers.variables import begin

    choice = await turn.services.compose.choose(
        actor=turn.require_actor(), project_id=project_id, prompt_id=prompt_id
    )
    await begin(turn, choice)


COMMANDS = {"new": new}
CALLBACKS = {"new": step}
DESCRIPTIONS = {"new": "bot.command.new"}
