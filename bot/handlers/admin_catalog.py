"""/workspace and /project: create one (its name is the next message) or rename one.

Callback data: ``ws:o:<org>`` / ``ws:l:<org>:<page>`` (the list), ``ws:n:<org>`` (new),
``ws:e:<workspace>`` (rename); ``pj:o:<org>`` / ``pj:l:<org>:<page>``, ``pj:n:<org>`` (new:
pick its workspace), ``pj:w:<workspace>`` (new in that workspace), ``pj:e:<project>``
(rename). Every name is saved by ``CatalogService`` with the actor, which checks the role.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from telegram import InlineKeyboardMarkup

from bot import keyboards
from bot.admin import int_arg, with_organization
from bot.turn import Turn
from core.services.common import Listing
from core.services.permissions import Action
from db.models import Role

WORKSPACE_NEW = "admin.workspace.new"
WORKSPACE_RENAME = "admin.workspace.rename"
PROJECT_NEW = "admin.project.new"
PROJECT_RENAME = "admin.project.rename"


# -- workspaces ----------------------------------------------------------------------------


async def workspace(turn: Turn) -> None:
    await turn.clear_state()
    await with_organization(turn, Action.MANAGE_WORKSPACES, "ws", _workspaces_first)


async def _workspaces_first(turn: Turn, organization_id: int) -> None:
    await _workspaces(turn, organization_id, 0)


async def _workspaces(
    turn: Turn, organization_id: int, requested: int, intro: str | None = None
) -> None:
    await _catalog_list(
        turn,
        "ws",
        "workspace",
        turn.services.catalog.list_workspaces,
        organization_id,
        requested,
        intro,
    )


async def on_workspace_button(turn: Turn) -> None:
    action, target = (turn.args[0] if turn.args else ""), int_arg(turn, 1)
    if target is None:
        await turn.ack(turn.t("bot.button_expired"), alert=True)
        return
    if action in ("o", "l"):
        await _workspaces(turn, target, int_arg(turn, 2) or 0)
    elif action == "n":
        await turn.set_state(WORKSPACE_NEW, {"organization_id": target})
        await turn.show(turn.t("bot.admin.workspace.send_name"))
    elif action == "e":
        found = await turn.services.catalog.get_workspace(
            actor=turn.require_actor(), workspace_id=target
        )
        await turn.set_state(WORKSPACE_RENAME, {"workspace_id": found.id})
        await turn.show(turn.t("bot.admin.workspace.send_new_name", name=found.name))
    else:
        await turn.ack(turn.t("bot.button_expired"), alert=True)


async def typed_workspace_name(turn: Turn) -> None:
    organization_id = int(turn.data["organization_id"])
    created = await turn.services.catalog.create_workspace(
        actor=turn.require_actor(), organization_id=organization_id, name=turn.text
    )
    await turn.clear_state()
    await _workspaces(
        turn, organization_id, 0, turn.t("bot.admin.workspace.created", name=created.name)
    )


async def typed_workspace_rename(turn: Turn) -> None:
    renamed = await turn.services.catalog.update_workspace(
        actor=turn.require_actor(), workspace_id=int(turn.data["workspace_id"]), name=turn.text
    )
    await turn.clear_state()
    await _workspaces(
        turn, renamed.organization_id, 0, turn.t("bot.admin.workspace.renamed", name=renamed.name)
    )


# -- projects ------------------------------------------------------------------------------


async def project(turn: Turn) -> None:
    await turn.clear_state()
    await with_organization(turn, Action.MANAGE_PROJECTS, "pj", _projects_first)


async def _projects_first(turn: Turn, organization_id: int) -> None:
    await _projects(turn, organization_id, 0)


async def _projects(
    turn: Turn, organization_id: int, requested: int, intro: str | None = None
) -> None:
    await _catalog_list(
        turn,
        "pj",
        "project",
        turn.services.catalog.list_projects,
        organization_id,
        requested,
        intro,
    )


async def on_project_button(turn: Turn) -> None:
    action, target = (turn.args[0] if turn.args else ""), int_arg(turn, 1)
    if target is None:
        await turn.ack(turn.t("bot.button_expired"), alert=True)
        return
    catalog, actor = turn.services.catalog, turn.require_actor()
    if action in ("o", "l"):
        await _projects(turn, target, int_arg(turn, 2) or 0)
    elif action == "n":
        listing = await catalog.list_workspaces(actor=actor, organization_id=target, limit=50)
        rows = [[keyboards.button(w.name, "pj", "w", w.id)] for w in listing.items]
        rows.append([keyboards.button(turn.t("bot.button.cancel"), "cancel")])
        await turn.show(turn.t("bot.admin.project.choose_workspace"), keyboards.inline(rows))
    elif action == "w":
        found = await catalog.get_workspace(actor=actor, workspace_id=target)
        await turn.set_state(PROJECT_NEW, {"workspace_id": found.id})
        await turn.show(turn.t("bot.admin.project.send_name", workspace=found.name))
    elif action == "e":
        found = await catalog.get_project(actor=actor, project_id=target)
        await turn.set_state(PROJECT_RENAME, {"project_id": found.id})
        await turn.show(turn.t("bot.admin.project.send_new_name", name=found.name))
    else:
        await turn.ack(turn.t("bot.button_expired"), alert=True)


async def typed_project_name(turn: Turn) -> None:
    catalog, actor = turn.services.catalog, turn.require_actor()
    created = await catalog.create_project(
        actor=actor, workspace_id=int(turn.data["workspace_id"]), name=turn.text
    )
    await turn.clear_state()
    found = await catalog.get_project(actor=actor, project_id=created.id)
    await _projects(
        turn,
        found.workspace.organization_id,
        0,
        turn.t("bot.admin.project.created", name=created.name),
    )


async def typed_project_rename(turn: Turn) -> None:
    renamed = await turn.services.catalog.update_project(
        actor=turn.require_actor(), project_id=int(turn.data["project_id"]), name=turn.text
    )
    await turn.clear_state()
    await _projects(
        turn,
        renamed.workspace.organization_id,
        0,
        turn.t("bot.admin.project.renamed", name=renamed.name),
    )


async def _catalog_list(
    turn: Turn,
    prefix: str,
    kind: str,
    lister: Callable[..., Awaitable[Listing[Any]]],
    organization_id: int,
    requested: int,
    intro: str | None,
) -> None:
    """One page of the organisation's workspaces or projects: rename buttons, "new" on top.

    The first call only counts, so a page number past the end is clamped before fetching.
    """
    actor = turn.require_actor()
    total = (await lister(actor=actor, organization_id=organization_id, limit=1)).count
    page = keyboards.Page.of(requested, total)
    listing = await lister(
        actor=actor, organization_id=organization_id, offset=page.offset, limit=page.limit
    )
    items = [(f"✏️ {row.name}", keyboards.data(prefix, "e", row.id)) for row in listing.items]
    markup = _with_new(
        keyboards.paged(turn.language, items, page, page_data=(prefix, "l", organization_id)),
        keyboards.button(turn.t(f"bot.admin.{kind}.button.new"), prefix, "n", organization_id),
    )
    text = turn.t(f"bot.admin.{kind}.title", count=listing.count)
    await turn.show(f"{intro}\n\n{text}" if intro else text, markup)


async def ask_again(turn: Turn) -> None:
    """The name's question anew, below whatever interrupted it."""
    actor, catalog, data = turn.require_actor(), turn.services.catalog, turn.data
    if turn.state == WORKSPACE_NEW:
        text = turn.t("bot.admin.workspace.send_name")
    elif turn.state == WORKSPACE_RENAME:
        found = await catalog.get_workspace(actor=actor, workspace_id=int(data["workspace_id"]))
        text = turn.t("bot.admin.workspace.send_new_name", name=found.name)
    elif turn.state == PROJECT_NEW:
        found = await catalog.get_workspace(actor=actor, workspace_id=int(data["workspace_id"]))
        text = turn.t("bot.admin.project.send_name", workspace=found.name)
    else:
        project = await catalog.get_project(actor=actor, project_id=int(data["project_id"]))
        text = turn.t("bot.admin.project.send_new_name", name=project.name)
    await turn.say(text)


def _with_new(markup: InlineKeyboardMarkup, new) -> InlineKeyboardMarkup:
    """``markup`` with the "new" button on top."""
    return InlineKeyboardMarkup([[new], *markup.inline_keyboard])


COMMANDS = {"workspace": workspace, "project": project}
CALLBACKS = {"ws": on_workspace_button, "pj": on_project_button}
TEXT_STATES = {
    WORKSPACE_NEW: typed_workspace_name,
    WORKSPACE_RENAME: typed_workspace_rename,
    PROJECT_NEW: typed_project_name,
    PROJECT_RENAME: typed_project_rename,
}
RESUME_STATES = dict.fromkeys(TEXT_STATES, ask_again)
DESCRIPTIONS = {"workspace": "bot.command.workspace", "project": "bot.command.project"}
MENU_ROLES = {"workspace": Role.ADMIN, "project": Role.ADMIN}
