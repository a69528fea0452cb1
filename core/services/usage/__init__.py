"""Usage limits, atomic reservations and the usage summary (docs/architecture.md §3, §4).

One module per concern: ``periods`` (billing periods in ``TIMEZONE``, Gregorian or Solar Hijri
months), ``limits`` (defaults, the merge rule, limit rows), ``counters`` and ``reservations``
(hold, settle, release), ``summaries``, and ``sql`` (numbered placeholders for PostgreSQL and
SQLite). The words a person reads about usage are made in ``core/presentation.py``.
"""

from core.services.usage.errors import UsageLimitExceeded
from core.services.usage.periods import period_bounds, period_key
from core.services.usage.service import UsageService
from core.services.usage.values import (
    COST_QUANTUM,
    MAX_COST_USD,
    PERIODS,
    SCOPES,
    Amount,
    Caps,
    ModelTotals,
    UsageScopes,
    UsageSummary,
    quantize_cost,
)

__all__ = [
    "COST_QUANTUM",
    "MAX_COST_USD",
    "PERIODS",
    "SCOPES",
    "Amount",
    "Caps",
    "ModelTotals",
    "UsageLimitExceeded",
    "UsageScopes",
    "UsageService",
    "UsageSummary",
    "period_bounds",
    "period_key",
    "quantize_cost",
]
