"""Workspaces and projects: what an organisation organises its writing into.

Admins create, rename and retire them; every member reads them. Slugs come from
the Persian or English name, are unique per parent (the database's ``unique_together`` decides
a race) and stay put when the name changes, so links keep working. Deleting is soft
(``is_active`` false): content and audit history keep their references, and a retired
workspace hides its projects. An id of another tenant's row behaves exactly like an unknown id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core.errors import NotFound
from core.security.principal import Principal
from core.services.common import (
    UNSET,
    Listing,
    Unset,
    clean_description,
    clean_name,
    create_with_unique_slug,
    fetch_listing,
    readable_organization_ids,
)
from core.services.list_totals import ListTotals
from core.services.permissions import Action, authorize
from db.models import Language, Organization, Project, User, Workspace

# The default workspace and project of a new organisation are found again by this slug, which
# is what makes ``contexor bootstrap`` idempotent even after an admin renames them.
DEFAULT_SLUG = "main"
DEFAULT_NAMES = {
    Language.FA: ("فضای کار اصلی", "پروژهٔ نخست"),
    Language.EN: ("Main workspace", "First project"),
}


@dataclass(frozen=True, slots=True)
class DefaultCatalog:
    workspace: Workspace
    project: Project
    created: bool


def active_workspaces() -> QuerySet[Workspace]:
    return Workspace.filter(is_active=True, organization__is_active=True)


def active_projects() -> QuerySet[Project]:
    """Active projects of active workspaces."""
    return Project.filter(is_active=True, workspace__is_active=True)


class CatalogService:
    """Workspaces and projects under the role matrix: admins write, members read."""

    def __init__(self, *, totals: ListTotals | None = None) -> None:
        # Retiring a workspace or project hides its content: the org's list totals change.
        self._totals = totals or ListTotals(None, key_prefix="", ttl_seconds=0)

    # -- workspaces ---------------------------------------------------------------------

    async def create_workspace(
        self, *, actor: Principal, organization_id: int, name: str, description: str = ""
    ) -> Workspace:
        """A new workspace in the organisation, with a slug unique there; admins only."""
        authorize(actor, organization_id, Action.MANAGE_WORKSPACES)
        name = clean_name(name)
        description = clean_description(description)

        async def taken(slug: str) -> bool:
            return await Workspace.exists(organization_id=organization_id, slug=slug)

        async def create(slug: str) -> Workspace:
            async with in_transaction() as conn:
                return await Workspace.create(
                    organization_id=organization_id,
                    name=name,
                    slug=slug,
                    description=description,
                    using_db=conn,
                )

        return await create_with_unique_slug(name, taken=taken, create=create)

    async def list_workspaces(
        self,
        *,
        actor: Principal,
        organization_id: int | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> Listing[Workspace]:
        """Active workspaces of the actor's organisations, or of one of them."""
        query = active_workspaces()
        if organization_id is None:
            query = query.filter(organization_id__in=readable_organization_ids(actor))
        else:
            authorize(actor, organization_id, Action.READ_CATALOG)
            query = query.filter(organization_id=organization_id)
        return await fetch_listing(query, offset=offset, limit=limit)

    async def get_workspace(self, *, actor: Principal, workspace_id: int) -> Workspace:
        """One workspace the actor may read."""
        return await _workspace_for(actor, workspace_id, Action.READ_CATALOG)

    async def update_workspace(
        self,
        *,
        actor: Principal,
        workspace_id: int,
        name: str | Unset = UNSET,
        description: str | Unset = UNSET,
    ) -> Workspace:
        """Rename or re-describe a workspace (its slug stays); admins only."""
        workspace = await _workspace_for(actor, workspace_id, Action.MANAGE_WORKSPACES)
        changes = _changes(name=name, description=description)
        await _update_active(Workspace, workspace.id, changes)
        return await _workspace_for(actor, workspace_id, Action.READ_CATALOG)

    async def delete_workspace(self, *, actor: Principal, workspace_id: int) -> None:
        """Retire a workspace and, with it, the visibility of its projects; admins only."""
        workspace = await _workspace_for(actor, workspace_id, Action.MANAGE_WORKSPACES)
        await _update_active(Workspace, workspace.id, {"is_active": False})
        await self._totals.changed(workspace.organization_id)

    # -- projects -----------------------------------------------------------------------

    async def create_project(
        self, *, actor: Principal, workspace_id: int, name: str, description: str = ""
    ) -> Project:
        """A new project in the workspace, with a slug unique there; admins only."""
        workspace = await _workspace_for(actor, workspace_id, Action.MANAGE_PROJECTS)
        name = clean_name(name)
        description = clean_description(description)

        async def taken(slug: str) -> bool:
            return await Project.exists(workspace_id=workspace.id, slug=slug)

        async def create(slug: str) -> Project:
            async with in_transaction() as conn:
                return await Project.create(
                    workspace_id=workspace.id,
                    name=name,
                    slug=slug,
                    description=description,
                    created_by_id=actor.user_id,
                    using_db=conn,
                )

        return await create_with_unique_slug(name, taken=taken, create=create)

    async def list_projects(
        self,
        *,
        actor: Principal,
        organization_id: int | None = None,
        workspace_id: int | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> Listing[Project]:
        """Active projects of the actor's organisations, narrowed to one organisation or
        workspace; a filter naming something the actor cannot see is ``NotFound``."""
        query = active_projects().filter(workspace__organization__is_active=True)
        if workspace_id is not None:
            workspace = await _workspace_for(actor, workspace_id, Action.READ_CATALOG)
            if organization_id not in (None, workspace.organization_id):
                raise NotFound()
            query = query.filter(workspace_id=workspace.id)
        elif organization_id is not None:
            authorize(actor, organization_id, Action.READ_CATALOG)
            query = query.filter(workspace__organization_id=organization_id)
        else:
            readable = readable_organization_ids(actor)
            query = query.filter(workspace__organization_id__in=readable)
        return await fetch_listing(query, offset=offset, limit=limit)

    async def get_project(self, *, actor: Principal, project_id: int) -> Project:
        """One project the actor may read, with ``workspace`` loaded (its organisation id too)."""
        return await _project_for(actor, project_id, Action.READ_CATALOG)

    async def update_project(
        self,
        *,
        actor: Principal,
        project_id: int,
        name: str | Unset = UNSET,
        description: str | Unset = UNSET,
    ) -> Project:
        """Rename or re-describe a project (its slug stays); admins only."""
        project = await _project_for(actor, project_id, Action.MANAGE_PROJECTS)
        changes = _changes(name=name, description=description)
        updated = changes and await Project.filter(id=project.id, is_active=True).update(**changes)
        if changes and not updated:
            raise NotFound()
        return await _project_for(actor, project_id, Action.READ_CATALOG)

    async def delete_project(self, *, actor: Principal, project_id: int) -> None:
        """Retire a project; admins only."""
        project = await _project_for(actor, project_id, Action.MANAGE_PROJECTS)
        await _update_active(Project, project.id, {"is_active": False})
        await self._totals.changed(project.workspace.organization_id)


async def ensure_default_catalog(
    organization: Organization, *, connection: BaseDBAsyncClient, creator: User | None = None
) -> DefaultCatalog:
    """The organisation's default workspace and project, created (or revived) when missing.

    Runs inside the caller's transaction; used when an organisation is created and by
    ``contexor bootstrap``, so running either twice leaves one default of each.
    """
    language = Language(organization.language)
    workspace_name, project_name = DEFAULT_NAMES.get(language, DEFAULT_NAMES[Language.FA])
    workspace, ws_created = await Workspace.get_or_create(
        organization_id=organization.id,
        slug=DEFAULT_SLUG,
        defaults={"name": workspace_name},
        using_db=connection,
    )
    project, p_created = await Project.get_or_create(
        workspace_id=workspace.id,
        slug=DEFAULT_SLUG,
        defaults={"name": project_name, "created_by_id": creator.id if creator else None},
        using_db=connection,
    )
    for row in (workspace, project):
        if not row.is_active:
            row.is_active = True
            await row.save(update_fields=["is_active"], using_db=connection)
    return DefaultCatalog(workspace=workspace, project=project, created=ws_created or p_created)


async def _workspace_for(actor: Principal, workspace_id: int, action: Action) -> Workspace:
    """An active workspace if the actor's role allows ``action``; another tenant's is 404."""
    workspace = await active_workspaces().get_or_none(id=workspace_id)
    if workspace is None:
        raise NotFound()
    authorize(actor, workspace.organization_id, action)
    return workspace


async def _project_for(actor: Principal, project_id: int, action: Action) -> Project:
    """An active project (workspace loaded) if the actor's role allows ``action``."""
    project = (
        await active_projects()
        .filter(workspace__organization__is_active=True)
        .select_related("workspace")
        .get_or_none(id=project_id)
    )
    if project is None:
        raise NotFound()
    authorize(actor, project.workspace.organization_id, action)
    return project


async def _update_active(
    model: type[Workspace] | type[Project], row_id: int, changes: dict[str, Any]
) -> None:
    """Apply ``changes`` to an active row in one conditional UPDATE of just those columns.

    A row retired meanwhile is ``NotFound``, and a concurrent change of another column is not
    overwritten by a stale full save.
    """
    if changes and not await model.filter(id=row_id, is_active=True).update(**changes):
        raise NotFound()


def _changes(*, name: str | Unset, description: str | Unset) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if name is not UNSET:
        changes["name"] = clean_name(name)
    if description is not UNSET:
        changes["description"] = clean_description(description)
    return changes
