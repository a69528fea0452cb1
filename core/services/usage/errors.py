"""The refusal of a usage limit, as data: which scope, period and metric, the cap, the reset.

The words a person reads are made by ``core/presentation.py`` (``usage_limit_message``); the REST
envelope carries ``params`` as they are here.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from core.errors import LimitExceeded
from core.services.usage.values import quantize_cost
from db.models import UsagePeriod, UsageScope


class UsageLimitExceeded(LimitExceeded):
    """A generation refused by one scope's cap in one period.

    ``metric`` is ``requests``, ``tokens`` or ``cost`` (``kind`` in ``params``); ``resets_at`` is
    when the period that refused ends, so an adapter can say when to come back.
    """

    def __init__(
        self,
        *,
        scope: UsageScope,
        period: UsagePeriod,
        kind: str,
        limit: int | Decimal,
        resets_at: datetime,
    ) -> None:
        # Params reach the JSON error envelope: plain strings and ints only (a cost as the API
        # writes money, six places).
        shown = str(quantize_cost(limit)) if isinstance(limit, Decimal) else limit
        super().__init__(
            "usage_limit_exceeded", scope=str(scope), period=str(period), kind=kind, limit=shown
        )
        self.scope = scope
        self.period = period
        self.metric = kind
        self.limit = limit
        self.resets_at = resets_at
