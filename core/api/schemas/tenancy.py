"""Bodies, queries and answers of organisations, members, workspaces, projects and prompts.

Shapes follow docs/architecture.md §3; writes take a parent's id under the parent's name
(``{"organization": 3, ...}``). In the ``…UpdateIn`` bodies a field left out, or sent as null,
stays as it is, except a prompt's ``workspace``, where null means "organisation-wide".
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from core.api.http import MAX_ID
from core.api.pagination import PageQuery
from core.api.schemas.auth import PHONE_DESCRIPTION
from core.services.common import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH, TEXT_PATTERN
from core.services.orgs import MemberView
from core.services.prompts import MAX_TEMPLATE_LENGTH, MAX_VARIABLES, PromptVariable
from db.models import (
    GenerationKind,
    Language,
    Organization,
    Project,
    Prompt,
    PromptCategory,
    Role,
    Workspace,
)

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=TEXT_PATTERN)]
Description = Annotated[StrictStr, Field(max_length=DESCRIPTION_MAX_LENGTH, pattern=TEXT_PATTERN)]
Template = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=MAX_TEMPLATE_LENGTH,
        pattern=TEXT_PATTERN,
        description="`{name}` placeholders of declared variables; other braces stay as text",
    ),
]
Variables = Annotated[list[PromptVariable], Field(max_length=MAX_VARIABLES)]


# -- organisations and members ------------------------------------------------------------


class OrganizationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    language: Language | None = Field(
        default=None, description="Language of the organisation's defaults and messages"
    )


class OrganizationUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    language: Language | None = None


class OrganizationOut(BaseModel):
    id: int
    name: str
    slug: str
    language: Language

    @classmethod
    def from_domain(cls, organization: Organization) -> OrganizationOut:
        return cls(
            id=organization.id,
            name=organization.name,
            slug=organization.slug,
            language=organization.language,
        )


class MemberInviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number: StrictStr = Field(min_length=1, max_length=64, description=PHONE_DESCRIPTION)
    role: Role
    full_name: Name | None = Field(default=None, description="Used only for a new user")
    language: Language | None = Field(default=None, description="Used only for a new user")


class MemberRoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class MemberUserOut(BaseModel):
    id: int
    phone_number: str = Field(
        description="E.164 for admins; masked (e.g. +98912***4567) for other members"
    )
    full_name: str | None


class MemberOut(BaseModel):
    user: MemberUserOut
    role: Role

    @classmethod
    def from_domain(cls, member: MemberView) -> MemberOut:
        """The wire shape of a member as the service let the actor see them."""
        return cls(
            user=MemberUserOut(
                id=member.user_id, phone_number=member.phone_number, full_name=member.full_name
            ),
            role=member.role,
        )


# -- workspaces and projects --------------------------------------------------------------


class WorkspaceListQuery(PageQuery):
    organization: Id | None = None


class WorkspaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization: Id
    name: Name
    description: Description = ""


class CatalogUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None


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


# -- prompts ------------------------------------------------------------------------------


class PromptListQuery(PageQuery):
    organization: Id | None = None
    workspace: Id | None = Field(
        default=None,
        description="Prompts usable in this workspace: its own and the organisation-wide ones",
    )
    category: PromptCategory | None = None
    kind: GenerationKind | None = None
    language: Language | None = None


class PromptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization: Id
    workspace: Id | None = Field(default=None, description="null: organisation-wide")
    title: Name
    category: PromptCategory = PromptCategory.OTHER
    kind: GenerationKind = GenerationKind.DRAFT
    template: Template
    variables: Variables = Field(default_factory=list)
    language: Language = Language.FA


class PromptUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspace: Id | None = Field(default=None, description="null: organisation-wide")
    title: Name | None = None
    category: PromptCategory | None = None
    kind: GenerationKind | None = None
    template: Template | None = None
    variables: Variables | None = None
    language: Language | None = None


class PromptOut(BaseModel):
    id: int
    organization: int
    workspace: int | None
    key: str | None = Field(description="Key of a built-in prompt, e.g. blog_post.fa")
    is_builtin: bool
    title: str
    category: PromptCategory
    kind: GenerationKind
    template: str
    variables: list[PromptVariable]
    language: Language

    @classmethod
    def from_domain(cls, prompt: Prompt) -> PromptOut:
        return cls(
            id=prompt.id,
            organization=prompt.organization_id,
            workspace=prompt.workspace_id,
            key=prompt.key,
            is_builtin=prompt.is_builtin,
            title=prompt.title,
            category=prompt.category,
            kind=prompt.kind,
            template=prompt.template,
            variables=prompt.variables,
            language=prompt.language,
        )
