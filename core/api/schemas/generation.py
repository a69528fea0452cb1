"""Bodies of ``POST /api/contents/{id}/generate`` and ``GET /api/jobs/{id}``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from core.presentation import api_money
from core.services.generation import MAX_INSTRUCTIONS_CHARS, JobView
from db.models import GenerationKind, JobStatus

VariableValue = StrictStr | StrictInt | StrictFloat | StrictBool | None


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: GenerationKind | None = Field(
        default=None, description="outline, draft, rewrite or caption; default: the prompt's kind"
    )
    instructions: StrictStr | None = Field(default=None, max_length=MAX_INSTRUCTIONS_CHARS)
    variables: dict[str, VariableValue] | None = Field(
        default=None, description="Values for the prompt's variables, over the content's own"
    )


class JobUsageOut(BaseModel):
    model: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: str = Field(description="USD as a decimal string")


class JobOut(BaseModel):
    id: int
    content: int
    status: JobStatus
    kind: GenerationKind
    error: str | None
    usage: JobUsageOut | None = Field(description="What was charged; null until then")
    model: str
    version: int | None = Field(description="Number of the version the job wrote")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_view(cls, view: JobView) -> JobOut:
        job, log = view.job, view.usage
        usage = None
        if log is not None:
            usage = JobUsageOut(
                model=log.model,
                prompt_tokens=log.prompt_tokens,
                completion_tokens=log.completion_tokens,
                total_tokens=log.total_tokens,
                cost_usd=api_money(log.cost_usd),
            )
        return cls(
            id=job.id,
            content=job.content_id,
            status=job.status,
            kind=job.kind,
            error=job.error,
            usage=usage,
            model=job.model,
            version=job.version_number,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


class StartedJobOut(JobOut):
    """What generate answers: the job itself, as ``GET /api/jobs/{id}`` shows it."""

    job: JobOut = Field(
        description="Deprecated: the same job under the old wrapper, kept for one release",
        json_schema_extra={"deprecated": True},
    )

    @classmethod
    def started(cls, view: JobView) -> StartedJobOut:
        job = JobOut.from_view(view)
        return cls(**job.model_dump(), job=job)
