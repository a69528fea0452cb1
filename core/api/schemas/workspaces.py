"""Query, body and answer of ``/api/workspaces`` (renames take ``common.CatalogUpdateIn``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from core.api.pagination import PageQuery
from core.api.schemas.common import Description, Id, Name
from db.models import Workspace


class WorkspaceListQuery(PageQuery):
    organization: Id | None = None


class WorkspaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization: Id
    name: Name
    description: Description = ""


class WorkspaceOut(BaseModel):
    id: int
    organization: int
    name: str
    slug: str
    description: str

    @classmethod
    def from_domain(cls, workspace: Workspace) -> WorkspaceOut:
        return cls(
            id=workspace.id,
            organization=workspace.organization_id,
            name=workspace.name,
            slug=workspace.slug,
            description=workspace.description,
        )
