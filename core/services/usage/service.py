"""The usage service: one object per process, its concerns in the modules it is made of."""

from __future__ import annotations

from core.clock import Clock
from core.services.usage.reservations import UsageReservations
from core.services.usage.summaries import UsageSummaries
from core.settings import Settings


class UsageService(UsageReservations, UsageSummaries):
    """Limits (``limits.py``), reservations and settlement (``reservations.py``), summaries
    (``summaries.py``) and period arithmetic (``periods.py``) in the configured zone."""

    def __init__(self, *, settings: Settings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
