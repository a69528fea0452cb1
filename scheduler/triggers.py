"""A trigger that fires at the start of every billing period: local midnight in ``TIMEZONE`` on
the first day of a Gregorian or Solar Hijri month (``BILLING_CALENDAR``).

A cron expression cannot say "the first of Farvardin" (Solar Hijri months are 29 to 31 days and
start on different Gregorian days each year), so the boundaries come from the usage service's
own ``period_bounds``: the report fires exactly where the monthly counters roll over.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from core.services.usage import period_bounds
from core.settings import BillingCalendar
from db.models import UsagePeriod


class BillingPeriodTrigger(BaseTrigger):
    def __init__(self, *, zone: ZoneInfo, calendar: BillingCalendar) -> None:
        self.timezone = zone
        self.calendar = calendar

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The first period start at or after ``now``, or right after the previous fire time."""
        start = now
        if previous_fire_time is not None:
            # min, as CronTrigger does: a missed boundary is returned (late), not skipped.
            start = min(now, previous_fire_time + timedelta(microseconds=1))
        return self.boundary_at_or_after(start)

    def boundary_at_or_after(self, at: datetime) -> datetime:
        first, following = period_bounds(
            UsagePeriod.MONTHLY, at, zone=self.timezone, calendar=self.calendar
        )
        return first if first == at else following

    def __str__(self) -> str:
        return f"billing_period[{self.calendar.value}]"

    def __repr__(self) -> str:
        return f"<BillingPeriodTrigger (calendar={self.calendar.value!r}, zone='{self.timezone}')>"
