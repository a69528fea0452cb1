"""Query, body and answer of ``/api/projects`` (renames take ``common.CatalogUpdateIn``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from core.api.pagination import PageQuery
from core.api.schemas.common import Description, Id, Name
from db.models import Project


class ProjectListQuery(PageQuery):
    organization: Id | None = None
    workspace: Id | None = None


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace: Id
    name: Name
    description: Description = ""


class ProjectOut(BaseModel):
    id: int
    workspace: int
    name: str
    slug: str
    description: str

    @classmethod
    def from_domain(cls, project: Project) -> ProjectOut:
        return cls(
            id=project.id,
            workspace=project.workspace_id,
            name=project.name,
            slug=project.slug,
            description=project.description,
        )
