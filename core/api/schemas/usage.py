"""Bodies of ``/api/usage/summary`` and ``/api/usage/limits``; money as strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from core.api.http import MAX_ID
from core.api.pagination import PageQuery
from core.presentation import api_money
from core.services.usage import MAX_COST_USD, UsageSummary
from db.models import UsageLimit, UsagePeriod, UsageScope

MAX_REQUESTS_LIMIT = 2**31 - 1  # an INTEGER column
MAX_TOKENS_LIMIT = 2**62  # a BIGINT column, with room for what is added to it
# Money in, like money out, is a decimal string: at most MAX_COST_USD, 6 decimal places.
MONEY_PATTERN = rf"^[0-9]{{1,{len(str(int(MAX_COST_USD)))}}}(\.[0-9]{{1,6}})?$"


class SummaryQuery(BaseModel):
    """``scope_id`` names the scope, as in the limits; ``id`` is its deprecated old name, read
    only when ``scope_id`` is absent."""

    # Documented as required: ``id`` is only the deprecated spelling of the same parameter.
    model_config = ConfigDict(json_schema_extra={"required": ["scope", "scope_id"]})

    scope: UsageScope
    scope_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Id of the organisation, workspace or user"
    )
    id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="Deprecated: the old name of `scope_id`, kept for one release",
        json_schema_extra={"deprecated": True},
    )
    period: UsagePeriod = UsagePeriod.MONTHLY

    @model_validator(mode="after")
    def _one_id(self) -> SummaryQuery:
        if self.scope_id is None and self.id is None:
            raise ValueError("scope_id is required")
        return self

    @property
    def target(self) -> int:
        return self.scope_id if self.scope_id is not None else self.id  # type: ignore[return-value]


class ModelUsageOut(BaseModel):
    model: str
    requests: int
    total_tokens: int
    cost_usd: str


class UsageSummaryOut(BaseModel):
    scope: UsageScope
    scope_id: int
    id: int = Field(
        description="Deprecated: the same as `scope_id`", json_schema_extra={"deprecated": True}
    )
    period: UsagePeriod
    start: datetime = Field(description="Start of the current period, in the configured zone")
    end: datetime = Field(description="End of the period (exclusive)")
    requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: str
    by_model: list[ModelUsageOut]

    @classmethod
    def from_domain(cls, summary: UsageSummary) -> UsageSummaryOut:
        return cls(
            scope=summary.scope,
            scope_id=summary.scope_id,
            id=summary.scope_id,
            period=summary.period,
            start=summary.start,
            end=summary.end,
            requests=summary.requests,
            prompt_tokens=summary.prompt_tokens,
            completion_tokens=summary.completion_tokens,
            total_tokens=summary.total_tokens,
            cost_usd=api_money(summary.cost_usd),
            by_model=[
                ModelUsageOut(
                    model=m.model,
                    requests=m.requests,
                    total_tokens=m.total_tokens,
                    cost_usd=api_money(m.cost_usd),
                )
                for m in summary.by_model
            ],
        )


class LimitsQuery(PageQuery):
    organization: int | None = Field(default=None, ge=1, le=MAX_ID)


class LimitIn(BaseModel):
    """One limit; null is no cap, 0 none allowed.

    Omitting ``cost_limit_usd`` on a workspace or user monthly limit keeps the default budget
    (``DEFAULT_*_MONTHLY_BUDGET_USD``); send ``null`` to lift it.
    """

    model_config = ConfigDict(extra="forbid")

    scope: UsageScope
    scope_id: int = Field(ge=1, le=MAX_ID)
    period: UsagePeriod
    organization_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="The organisation the limit applies in: required for a user limit "
        "(a person's limit in one organisation never applies in another)",
    )
    requests_limit: int | None = Field(default=None, ge=0, le=MAX_REQUESTS_LIMIT)
    tokens_limit: int | None = Field(default=None, ge=0, le=MAX_TOKENS_LIMIT)
    cost_limit_usd: Annotated[StrictStr, Field(pattern=MONEY_PATTERN)] | None = Field(
        default=None, description="USD as a decimal string, at most 6 decimal places"
    )

    @property
    def cost(self) -> Decimal | None:
        return None if self.cost_limit_usd is None else Decimal(self.cost_limit_usd)


class LimitOut(BaseModel):
    id: int
    organization_id: int
    scope: UsageScope
    scope_id: int
    period: UsagePeriod
    requests_limit: int | None
    tokens_limit: int | None
    cost_limit_usd: str | None

    @classmethod
    def from_model(cls, limit: UsageLimit) -> LimitOut:
        return cls(
            id=limit.id,
            organization_id=limit.organization_id,
            scope=limit.scope,
            scope_id=limit.scope_id,
            period=limit.period,
            requests_limit=limit.requests_limit,
            tokens_limit=limit.tokens_limit,
            cost_limit_usd=None
            if limit.cost_limit_usd is None
            else api_money(limit.cost_limit_usd),
        )
