"""Billing periods: the [start, end) of a day or month and the key its counters are stored under.

Periods are computed in ``settings.timezone`` (``TIMEZONE``); a monthly period follows Gregorian
or Solar Hijri months per ``settings.billing_calendar`` (keys ``2026-11`` or ``1405-09``; daily keys
are the local Gregorian date ``2026-11-30`` under both calendars).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import jdatetime

from core.clock import Clock
from core.settings import BillingCalendar, Settings
from db.models import UsagePeriod


def period_bounds(
    period: UsagePeriod, at: datetime, *, zone: ZoneInfo, calendar: BillingCalendar
) -> tuple[datetime, datetime]:
    """[start, end) of the period holding ``at``, as aware datetimes in ``zone``."""
    local = at.astimezone(zone).date()
    if period is UsagePeriod.DAILY:
        first, following = local, local + timedelta(days=1)
    elif calendar is BillingCalendar.JALALI:
        j = jdatetime.date.fromgregorian(date=local)
        next_year, next_month = (j.year + 1, 1) if j.month == 12 else (j.year, j.month + 1)
        first = jdatetime.date(j.year, j.month, 1).togregorian()
        following = jdatetime.date(next_year, next_month, 1).togregorian()
    else:
        next_year, next_month = (
            (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        )
        first, following = local.replace(day=1), date(next_year, next_month, 1)
    return _local_midnight(first, zone), _local_midnight(following, zone)


def period_key(
    period: UsagePeriod, at: datetime, *, zone: ZoneInfo, calendar: BillingCalendar
) -> str:
    """The counter key of the period holding ``at``: ``2026-11-30``, ``2026-11`` or ``1405-09``."""
    local = at.astimezone(zone).date()
    if period is UsagePeriod.DAILY:
        return local.isoformat()
    if calendar is BillingCalendar.JALALI:
        j = jdatetime.date.fromgregorian(date=local)
        return f"{j.year:04d}-{j.month:02d}"
    return f"{local.year:04d}-{local.month:02d}"


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


class PeriodsInConfiguredZone:
    """Period arithmetic in the deployment's zone and calendar, ``at`` defaulting to now."""

    _settings: Settings
    _clock: Clock

    def period_bounds(
        self, period: UsagePeriod, at: datetime | None = None
    ) -> tuple[datetime, datetime]:
        """[start, end) of the period holding ``at`` (default now) in the configured zone."""
        return period_bounds(
            period,
            at or self._clock.now(),
            zone=self._settings.zone,
            calendar=self._settings.billing_calendar,
        )

    def period_key(self, period: UsagePeriod, at: datetime | None = None) -> str:
        """The counter key of the period holding ``at`` (default now)."""
        return period_key(
            period,
            at or self._clock.now(),
            zone=self._settings.zone,
            calendar=self._settings.billing_calendar,
        )
