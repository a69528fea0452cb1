"""Queries, bodies and answers of ``/api/prompts``.

In ``PromptUpdateIn`` a field left out, or sent as null, stays as it is, except ``workspace``,
where null means "organisation-wide".
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from core.api.pagination import PageQuery
from core.api.schemas.common import Id, Name
from core.services.common import TEXT_PATTERN
from core.services.prompts import MAX_TEMPLATE_LENGTH, MAX_VARIABLES, PromptVariable
from db.models import GenerationKind, Language, Prompt, PromptCategory

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
