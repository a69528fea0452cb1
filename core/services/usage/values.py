"""The values the usage package hands around: scopes charged, caps, amounts and summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from db.models import UsagePeriod, UsageScope

COST_QUANTUM = Decimal("0.000001")
MAX_COST_USD = Decimal("99999999.999999")  # what DecimalField(max_digits=14, places=6) holds
PERIODS: Final = (UsagePeriod.DAILY, UsagePeriod.MONTHLY)
SCOPES: Final = (UsageScope.ORGANIZATION, UsageScope.WORKSPACE, UsageScope.USER)


@dataclass(frozen=True, slots=True)
class UsageScopes:
    """Who a generation is charged to."""

    organization_id: int
    workspace_id: int
    user_id: int

    def pairs(self) -> list[tuple[UsageScope, int]]:
        """(scope, scope_id) of each of the three scopes, organisation first."""
        return [
            (UsageScope.ORGANIZATION, self.organization_id),
            (UsageScope.WORKSPACE, self.workspace_id),
            (UsageScope.USER, self.user_id),
        ]


@dataclass(frozen=True, slots=True)
class Caps:
    """The caps of one scope and period; ``None`` is no cap."""

    requests: int | None = None
    tokens: int | None = None
    cost_usd: Decimal | None = None

    @property
    def any(self) -> bool:
        """Whether anything is capped."""
        return not (self.requests is None and self.tokens is None and self.cost_usd is None)


@dataclass(frozen=True, slots=True)
class Amount:
    """Requests, tokens and cost taken together (a reservation, or what was used)."""

    requests: int
    tokens: int
    cost_usd: Decimal


NOTHING: Final = Amount(0, 0, Decimal(0))


@dataclass(frozen=True, slots=True)
class ModelTotals:
    """One row of a summary's per-model breakdown."""

    model: str
    requests: int
    total_tokens: int
    cost_usd: Decimal


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """What a scope used in one period, with the breakdown by model."""

    scope: UsageScope
    scope_id: int
    period: UsagePeriod
    start: datetime
    end: datetime
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal("0.000000")
    by_model: list[ModelTotals] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


def quantize_cost(value: Decimal | float | int | str | None) -> Decimal:
    """``value`` in USD rounded half-up to six places (``None`` is zero)."""
    if value is None:
        return Decimal(0).quantize(COST_QUANTUM)
    # str() first: SQLite hands SUM()s back as floats.
    return Decimal(str(value)).quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)
