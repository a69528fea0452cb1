"""Bodies, queries and answers of ``/api/contents*``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
)

from core.api.http import MAX_ID
from core.api.pagination import PageQuery
from core.services.common import NON_BLANK_TEXT_PATTERN, TEXT_PATTERN
from core.services.content import (
    MAX_BODY_CHARS,
    MAX_NOTE_CHARS,
    MAX_TITLE_CHARS,
    MAX_VARIABLE_NAME_CHARS,
    MAX_VARIABLE_VALUE_CHARS,
    MAX_VARIABLES,
    MIN_SEARCH_CHARS,
)
from core.services.content_listing import ContentSummary
from core.text.excerpt import EXCERPT_CHARS
from db.models import Content, ContentStatus, ContentVersion, VersionSource

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
VariableName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_VARIABLE_NAME_CHARS)]
VariableValue = (
    Annotated[str, StringConstraints(max_length=MAX_VARIABLE_VALUE_CHARS, strict=True)]
    | StrictBool
    | StrictInt
    | Annotated[StrictFloat, Field(allow_inf_nan=False)]
    | None
)
Variables = Annotated[dict[VariableName, VariableValue], Field(max_length=MAX_VARIABLES)]
Title = Annotated[
    StrictStr, Field(min_length=1, max_length=MAX_TITLE_CHARS, pattern=NON_BLANK_TEXT_PATTERN)
]
Body = Annotated[StrictStr, Field(max_length=MAX_BODY_CHARS)]


class ContentCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: Id
    title: Title
    body: Body = ""
    prompt: Id | None = None
    variables: Variables = Field(default_factory=dict)


class ContentUpdateIn(BaseModel):
    """Only the fields given change; status and decisions are never writable here."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    body: Body | None = None
    variables: Variables | None = None


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[StrictStr, Field(max_length=MAX_NOTE_CHARS, pattern=TEXT_PATTERN)] | None = None


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[
        StrictStr, Field(min_length=1, max_length=MAX_NOTE_CHARS, pattern=NON_BLANK_TEXT_PATTERN)
    ]


class ContentListQuery(PageQuery):
    organization: Id | None = None
    workspace: Id | None = None
    project: Id | None = None
    status: ContentStatus | None = None
    # minLength is documented, not enforced here: the service answers ``search_too_short``
    # (the length counts after normalisation), which the document then states.
    search: (
        Annotated[str, Field(max_length=200, json_schema_extra={"minLength": MIN_SEARCH_CHARS})]
        | None
    ) = Field(
        default=None, description="Words in the title or body (Persian and ASCII digits match)"
    )


class ContentOut(BaseModel):
    id: int
    project: int
    prompt: int | None
    title: str
    body: str
    status: ContentStatus
    variables: dict[str, Any]
    word_count: int
    has_pii: bool
    pii_findings: dict[str, int] = Field(description="PII types found and their counts")
    created_by: int | None
    decided_by: int | None
    decided_at: datetime | None
    rejection_reason: str | None
    approved_version: int | None = Field(description="Number of the version that was approved")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_domain(cls, content: Content) -> ContentOut:
        """The wire shape of a content row (ids only: no query per row)."""
        return cls(
            id=content.id,
            project=content.project_id,
            prompt=content.prompt_id,
            title=content.title,
            body=content.body,
            status=content.status,
            variables=content.variables,
            word_count=content.word_count,
            has_pii=content.has_pii,
            pii_findings=content.pii_findings,
            created_by=content.created_by_id,
            decided_by=content.decided_by_id,
            decided_at=content.decided_at,
            rejection_reason=content.rejection_reason,
            approved_version=content.approved_version,
            created_at=content.created_at,
            updated_at=content.updated_at,
        )


class ContentSummaryOut(BaseModel):
    """A list row: the content without its body, with the body's opening instead."""

    id: int
    project: int
    prompt: int | None
    title: str
    excerpt: str = Field(
        description=f"The body's first {EXCERPT_CHARS} characters, whitespace folded, "
        "cut at a word with an ellipsis; the detail has the whole body"
    )
    status: ContentStatus
    variables: dict[str, Any]
    word_count: int
    has_pii: bool
    pii_findings: dict[str, int] = Field(description="PII types found and their counts")
    created_by: int | None
    decided_by: int | None
    decided_at: datetime | None
    rejection_reason: str | None
    approved_version: int | None = Field(description="Number of the version that was approved")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_domain(cls, summary: ContentSummary) -> ContentSummaryOut:
        """The wire shape of a list row."""
        return cls(
            id=summary.id,
            project=summary.project_id,
            prompt=summary.prompt_id,
            title=summary.title,
            excerpt=summary.excerpt,
            status=summary.status,
            variables=summary.variables,
            word_count=summary.word_count,
            has_pii=summary.has_pii,
            pii_findings=summary.pii_findings,
            created_by=summary.created_by_id,
            decided_by=summary.decided_by_id,
            decided_at=summary.decided_at,
            rejection_reason=summary.rejection_reason,
            approved_version=summary.approved_version,
            created_at=summary.created_at,
            updated_at=summary.updated_at,
        )


class VersionOut(BaseModel):
    id: int
    number: int
    title: str
    body: str
    source: VersionSource
    incomplete: bool = Field(
        description="A generation cut short (broken stream, shutdown): what arrived, billed"
    )
    created_by: int | None
    created_at: datetime

    @classmethod
    def from_domain(cls, version: ContentVersion) -> VersionOut:
        """The wire shape of a version row."""
        return cls(
            id=version.id,
            number=version.number,
            title=version.title,
            body=version.body,
            source=version.source,
            incomplete=version.incomplete,
            created_by=version.created_by_id,
            created_at=version.created_at,
        )


class LockConflictDetail(BaseModel):
    """A 409 about a content's state; while it is generating, also when it may be unlocked."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="`content_generating`, `generation_still_running`, …")
    message: str
    current_status: ContentStatus | None = None
    content_id: int | None = Field(
        default=None, description="The locked content (`POST /api/contents/{id}/unlock`)."
    )
    unlock_at: datetime | None = Field(
        default=None,
        description=(
            "When its author may unlock it: now if the job's process is dead, else when the"
            " job will have shown no life for GENERATION_UNLOCK_GRACE_SECONDS."
        ),
    )
    retry_after: int | None = Field(
        default=None, description="Seconds until `unlock_at` (0: unlock now)."
    )


class LockConflictOut(BaseModel):
    """The error envelope of a 409 on a content that may be locked by a generation."""

    error: LockConflictDetail


# The 409 of every route that meets the generation lock.
LOCK_CONFLICT = ((409, LockConflictOut),)
