"""Composing a new piece: the menus a writer picks from, and their last choice.

The bot (or any adapter) walks organisation -> workspace -> project -> prompt, one page of
:data:`PAGE_SIZE` names at a time. Each step takes ids from the adapter (callback data, which
anyone can forge) and re-checks them here: the actor must be an active member allowed to
create content in the organisation, the rows must be active and belong to each other, and a
prompt must be usable in the chosen workspace (organisation-wide or that workspace's own). A
foreign id looks exactly like an unknown one (``NotFound``), as everywhere else
(docs/architecture.md §4).

The organisations step is only needed when the actor may write in several. What was chosen
last is stored per user (:class:`~db.models.ComposeChoice`) and offered first next time, after
the same checks; a retired project or a lost membership just stops being offered.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cache
from typing import Any

from tortoise import timezone
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from core.errors import NotFound, PermissionDenied
from core.security.principal import Principal
from core.services.catalog import active_projects, active_workspaces
from core.services.permissions import Action, authorize, may
from core.services.prompts import visible_prompts
from db import raw
from db.models import (
    ComposeChoice,
    GenerationKind,
    Organization,
    Project,
    Prompt,
    Workspace,
)

PAGE_SIZE = 8

# Kinds a prompt of each kind may be generated as; a new piece has no body, so rewriting is
# offered only by a rewrite prompt (whose variables carry the text).
_KINDS: dict[GenerationKind, tuple[GenerationKind, ...]] = {
    GenerationKind.DRAFT: (GenerationKind.DRAFT, GenerationKind.OUTLINE),
    GenerationKind.OUTLINE: (GenerationKind.OUTLINE, GenerationKind.DRAFT),
    GenerationKind.CAPTION: (GenerationKind.CAPTION,),
    GenerationKind.REWRITE: (GenerationKind.REWRITE,),
}
_FREE_KINDS = (GenerationKind.DRAFT, GenerationKind.OUTLINE, GenerationKind.CAPTION)


@dataclass(frozen=True, slots=True)
class Option:
    """One entry of a menu: an id and what to show (prompts add language and category)."""

    id: int
    title: str
    language: str | None = None
    category: str | None = None
    builtin: bool = False


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a menu; ``page`` counts from 0 and is clamped to the pages there are."""

    items: list[Option]
    page: int
    pages: int
    count: int

    @property
    def has_previous(self) -> bool:
        return self.page > 0

    @property
    def has_next(self) -> bool:
        return self.page + 1 < self.pages


@dataclass(frozen=True, slots=True)
class Choice:
    """A checked place to write in, and the prompt to write with (``None``: free-form)."""

    organization: Organization
    workspace: Workspace
    project: Project
    prompt: Prompt | None

    @property
    def kinds(self) -> tuple[GenerationKind, ...]:
        """The kinds this piece may be generated as, the prompt's own first."""
        return kinds_for(self.prompt)


def kinds_for(prompt: Prompt | None) -> tuple[GenerationKind, ...]:
    """The generation kinds offered for a new piece written with ``prompt``."""
    if prompt is None:
        return _FREE_KINDS
    return _KINDS[GenerationKind(prompt.kind)]


class ComposeService:
    """Menus for a new piece, each step re-authorised, and the last choice per user."""

    def __init__(self, *, page_size: int = PAGE_SIZE) -> None:
        self._page_size = page_size

    async def organizations(self, *, actor: Principal, page: int = 0) -> Page:
        """Active organisations where the actor may create content, by name."""
        ids = [org for org, role in actor.roles.items() if may(role, Action.CREATE_CONTENT)]
        query = Organization.filter(id__in=ids, is_active=True)
        return await self._page(query, page, ("name", "id"), _named)

    async def workspaces(self, *, actor: Principal, organization_id: int, page: int = 0) -> Page:
        """Active workspaces of an organisation the actor may write in."""
        authorize(actor, organization_id, Action.CREATE_CONTENT)
        query = active_workspaces().filter(organization_id=organization_id)
        return await self._page(query, page, ("name", "id"), _named)

    async def projects(self, *, actor: Principal, workspace_id: int, page: int = 0) -> Page:
        """Active projects of a workspace the actor may write in."""
        workspace = await self._workspace(actor, workspace_id)
        query = active_projects().filter(workspace_id=workspace.id)
        return await self._page(query, page, ("name", "id"), _named)

    async def prompts(self, *, actor: Principal, project_id: int, page: int = 0) -> Page:
        """Prompts usable in the project's workspace: the organisation's own first, then the
        built-in library, each with its language and category."""
        choice = await self._place(actor, project_id)
        query = _usable_prompts(choice.workspace)
        return await self._page(query, page, ("is_builtin", "title", "id"), _prompt_option)

    async def choose(self, *, actor: Principal, project_id: int, prompt_id: int | None) -> Choice:
        """Check the project and prompt for the actor and remember them as their last choice."""
        choice = await self.check(actor=actor, project_id=project_id, prompt_id=prompt_id)
        await _remember(actor.user_id, choice)
        return choice

    async def check(self, *, actor: Principal, project_id: int, prompt_id: int | None) -> Choice:
        """The checked choice (``NotFound`` for anything foreign, retired or unusable there)."""
        if prompt_id is None:
            return await self._place(actor, project_id)
        client = raw.postgres()
        if client is not None:  # db/raw.py: every answer to a question re-checks here
            return _checked(actor, await raw.fetch(client, _check_sql(), project_id, prompt_id))
        # Both reads at once (one round trip of waiting); the prompt is checked against the
        # place below, as _usable_prompts would, before anything of it is used.
        place, prompt = await asyncio.gather(
            self._place(actor, project_id), visible_prompts().get_or_none(id=prompt_id)
        )
        if prompt is None or not _usable_in(prompt, place.workspace):
            raise NotFound()
        return Choice(place.organization, place.workspace, place.project, prompt)

    async def last_choice(self, *, actor: Principal) -> Choice | None:
        """The actor's last choice if it is still theirs to use, else ``None``."""
        client = raw.postgres()
        if client is not None:  # db/raw.py: the saved choice and its re-check in one statement
            rows = await raw.fetch(client, _last_choice_sql(), actor.user_id)
            try:
                return _checked(actor, rows, prompt_needed=bool(rows and rows[0]["c_prompt"]))
            except (NotFound, PermissionDenied):
                return None
        saved = await ComposeChoice.get_or_none(user_id=actor.user_id)
        if saved is None:
            return None
        try:
            return await self.check(
                actor=actor, project_id=saved.project_id, prompt_id=saved.prompt_id
            )
        except (NotFound, PermissionDenied):  # gone, or the role was lowered to viewer
            return None

    async def _workspace(self, actor: Principal, workspace_id: int) -> Workspace:
        workspace = await active_workspaces().get_or_none(id=workspace_id)
        if workspace is None:
            raise NotFound()
        authorize(actor, workspace.organization_id, Action.CREATE_CONTENT)
        return workspace

    async def _place(self, actor: Principal, project_id: int) -> Choice:
        project = (
            await active_projects()
            .filter(workspace__organization__is_active=True)
            .select_related("workspace__organization")
            .get_or_none(id=project_id)
        )
        if project is None:
            raise NotFound()
        workspace = project.workspace
        authorize(actor, workspace.organization_id, Action.CREATE_CONTENT)
        return Choice(workspace.organization, workspace, project, None)

    async def _page(self, query: QuerySet, page: int, order: tuple[str, ...], render) -> Page:  # type: ignore[no-untyped-def, type-arg]
        count = await query.count()
        pages = max(1, -(-count // self._page_size))
        page = min(max(0, page), pages - 1)
        rows = await query.order_by(*order).offset(page * self._page_size).limit(self._page_size)
        return Page(items=[render(row) for row in rows], page=page, pages=pages, count=count)


async def _remember(user_id: int, choice: Choice) -> None:
    """Store the last choice: one conditional UPDATE once the user has a row (no transaction)."""
    values = {
        "organization_id": choice.organization.id,
        "project_id": choice.project.id,
        "prompt_id": choice.prompt.id if choice.prompt is not None else None,
    }
    rows = ComposeChoice.filter(user_id=user_id)
    client = raw.postgres()
    if client is not None:  # db/raw.py: every "continue in X / Y" writes it
        changed = await raw.execute(client, _REMEMBER, user_id, *values.values(), timezone.now())
    else:
        changed = await rows.update(**values, updated_at=timezone.now())
    if changed:
        return
    try:
        await ComposeChoice.create(user_id=user_id, **values)
    except IntegrityError:  # a concurrent first choice won the insert
        await rows.update(**values, updated_at=timezone.now())


def _usable_prompts(workspace: Workspace) -> QuerySet[Prompt]:
    return (
        visible_prompts()
        .filter(organization_id=workspace.organization_id)
        .filter(Q(workspace_id__isnull=True) | Q(workspace_id=workspace.id))
    )


def _usable_in(prompt: Prompt, workspace: Workspace) -> bool:
    """A visible prompt is usable in ``workspace`` on the terms of :func:`_usable_prompts`."""
    return prompt.organization_id == workspace.organization_id and prompt.workspace_id in (
        None,
        workspace.id,
    )


def _named(row: Organization | Workspace | Project) -> Option:
    return Option(id=row.id, title=row.name)


def _prompt_option(prompt: Prompt) -> Option:
    return Option(
        id=prompt.id,
        title=prompt.title,
        language=str(prompt.language),
        category=str(prompt.category),
        builtin=prompt.is_builtin,
    )


# -- the re-check on PostgreSQL (db/raw.py) ----------------------------------------------------


# The active project with its active workspace and organisation (``_place``), and the active
# prompt of that id beside it. The prompt's own workspace need not be joined: the prompt is
# usable only without one or in this workspace, which is active (``_usable_in``).
_PLACE_AND_PROMPT = (
    " JOIN workspaces w ON w.id = p.workspace_id AND w.is_active"
    " JOIN organizations o ON o.id = w.organization_id AND o.is_active"
    " LEFT JOIN prompts t ON t.id = {prompt} AND t.is_active"
    " WHERE p.is_active"
)


_REMEMBER = (
    "UPDATE compose_choices SET organization_id = $2, project_id = $3, prompt_id = $4,"
    " updated_at = $5 WHERE user_id = $1"
)


def _choice_columns() -> str:
    # Only the models' own column names are formatted into the statements; ids are parameters.
    return ", ".join(
        raw.columns(model, alias)
        for model, alias in ((Project, "p"), (Workspace, "w"), (Organization, "o"), (Prompt, "t"))
    )


@cache
def _check_sql() -> str:
    """The project ``$1`` and the prompt ``$2`` for ``ComposeService.check``."""
    where = _PLACE_AND_PROMPT.format(prompt="$2")
    return f"SELECT {_choice_columns()} FROM projects p{where} AND p.id = $1"  # noqa: S608


@cache
def _last_choice_sql() -> str:
    """The saved choice of user ``$1`` for ``ComposeService.last_choice``."""
    where = _PLACE_AND_PROMPT.format(prompt="c.prompt_id")
    return (
        f"SELECT {_choice_columns()}, c.prompt_id AS c_prompt FROM compose_choices c"  # noqa: S608
        f" JOIN projects p ON p.id = c.project_id{where} AND c.user_id = $1"
    )


def _checked(actor: Principal, rows: list[Any], *, prompt_needed: bool = True) -> Choice:
    """``ComposeService.check`` from the row of :func:`_check_sql`, in the same order:
    the place, the actor's right to write there, then the prompt (if one was asked for)."""
    if not rows:
        raise NotFound()
    row = rows[0]
    organization = raw.prefixed(Organization, row, "o")
    workspace = raw.prefixed(Workspace, row, "w")
    project = raw.prefixed(Project, row, "p")
    # As select_related("workspace__organization") leaves them.
    object.__setattr__(workspace, "_organization", organization)
    object.__setattr__(project, "_workspace", workspace)
    authorize(actor, workspace.organization_id, Action.CREATE_CONTENT)
    if not prompt_needed:
        return Choice(organization, workspace, project, None)
    if row["t_id"] is None:
        raise NotFound()
    prompt = raw.prefixed(Prompt, row, "t")
    if not _usable_in(prompt, workspace):
        raise NotFound()
    return Choice(organization, workspace, project, prompt)
