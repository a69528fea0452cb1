"""Texts of the scheduler's notifications: the period report, limit warnings, review reminders.

Payloads are described in ``core/services/period_reports.py``, ``core/services/limit_warnings.py``
and ``core/services/review_reminders.py``; texts in ``core/locales/{fa,en}/outbox_scheduler.json``.
Numbers, dates and amounts are shown with Persian digits and separators in Persian; money by the
one rule of ``core/presentation.py`` (spent: half-up to cents; a cap: exactly as set).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import jdatetime

from core.i18n import translate
from core.presentation import digits, money, money_cap
from core.presentation import number as localized_number
from core.services.notifications import (
    KIND_LIMIT_WARNING,
    KIND_REVIEW_REMINDER,
    KIND_USAGE_REPORT,
)

PREFIX = "outbox_scheduler."


def render_scheduled(kind: str, payload: dict[str, Any], language: str) -> str | None:
    """The text of a scheduler kind, or None when ``kind`` is not one of them."""
    renderer = _RENDERERS.get(kind)
    return None if renderer is None else renderer(payload, language)


def _t(language: str, key: str, **params: Any) -> str:
    return translate(language, PREFIX + key, **params)


def number(value: int | str, language: str) -> str:
    """``1,234`` (or ``۱٬۲۳۴``)."""
    return localized_number(language, int(value))


def day(iso: str, calendar: str, language: str) -> str:
    """A local date, in the billing calendar: ``1404/12/29`` or ``2026-11-30``."""
    local = date.fromisoformat(iso)
    if calendar == "jalali":
        shown = jdatetime.date.fromgregorian(date=local).strftime("%Y/%m/%d")
    else:
        shown = local.isoformat()
    return digits(language, shown)


def period_name(period_key: str, calendar: str, language: str) -> str:
    """``Esfand 1404`` / ``اسفند ۱۴۰۴`` from the counters' key ``1404-12``."""
    year, month = period_key.split("-")[:2]
    month_name = _t(language, f"month.{calendar}.{int(month)}")
    return _t(language, "period", month=month_name, year=digits(language, year))


def _usage_report(p: dict[str, Any], language: str) -> str:
    calendar = p.get("calendar", "gregorian")
    head = {
        "organization": p.get("organization"),
        "period": period_name(p["period_key"], calendar, language),
        "first_day": day(p["first_day"], calendar, language),
        "last_day": day(p["last_day"], calendar, language),
    }
    if not p.get("requests"):
        return _t(language, "report.empty", **head)
    parts = [_t(language, "report", **head, **_amounts(p, language))]
    for title, lines, more in (
        ("report.by_workspace", p.get("by_workspace", []), p.get("more_workspaces", 0)),
        ("report.by_user", p.get("by_user", []), p.get("more_users", 0)),
    ):
        block = [_t(language, title)]
        for line in lines:
            label = line.get("label") or _t(language, "report.unnamed")
            block.append(_t(language, "report.line", label=label, **_amounts(line, language)))
        if more:
            block.append(_t(language, "report.more", count=number(more, language)))
        parts.append("\n".join(block))
    return "\n\n".join(parts)


def _amounts(p: dict[str, Any], language: str) -> dict[str, str]:
    return {
        "requests": number(p.get("requests", 0), language),
        "tokens": number(p.get("tokens", 0), language),
        "cost": money(language, p.get("cost_usd", "0")),
    }


def _limit_warning(p: dict[str, Any], language: str) -> str:
    metric = p.get("metric")
    # What was used is an amount spent; the limit is the cap as the admin set it.
    used, limit = p.get("used", 0), p.get("limit", 0)
    if metric == "cost":
        used_text, limit_text = money(language, used), money_cap(language, limit)
    else:
        used_text, limit_text = number(used, language), number(limit, language)
    return _t(
        language,
        f"warning.{p.get('scope')}",
        **{
            **p,
            "metric": _t(language, f"warning.metric.{metric}"),
            "period": _t(language, f"warning.period.{p.get('period')}"),
            "period_key": digits(language, str(p.get("period_key"))),
            "percent": digits(language, str(p.get("percent"))),
            "used": used_text,
            "limit": limit_text,
        },
    )


def _review_reminder(p: dict[str, Any], language: str) -> str:
    lines = [
        _t(
            language,
            "reminder",
            organization=p.get("organization"),
            count=number(p.get("count", 0), language),
        )
    ]
    for item in p.get("items", []):
        days = number(item.get("waiting_days", 1), language)
        lines.append(
            _t(language, "reminder.item", title=item["title"], project=item["project"], days=days)
        )
    if p.get("more"):
        lines.append(_t(language, "reminder.more", count=number(p["more"], language)))
    return "\n".join(lines)


_RENDERERS = {
    KIND_USAGE_REPORT: _usage_report,
    KIND_LIMIT_WARNING: _limit_warning,
    KIND_REVIEW_REMINDER: _review_reminder,
}
