"""The end-of-period usage report, sent to each organisation's admins through the outbox.

Payload of ``usage_report`` (the contract with ``bot/outbox_render.py``): the organisation, the
period (``period_key`` as the usage counters key it, ``calendar``, the local ``first_day`` and
``last_day``), the totals, and the most expensive workspaces and members as lines of
``{label, requests, tokens, cost_usd}`` (``label`` None: a deleted or unnamed one), with how many
more lines were left out so the message stays within one Telegram message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.services.notifications import KIND_USAGE_REPORT
from core.services.outbox import OutboxService
from core.services.reports import PeriodReport, ReportService, UsageLine
from core.settings import Settings
from db.models import Membership, Organization, Role, UsageReportNotice

MAX_LINES = 15  # per breakdown: a report of a large organisation stays one message


class PeriodReportNotices:
    """Writes one ``usage_report`` row per admin of every active organisation, once per
    organisation and period (``UsageReportNotice``)."""

    def __init__(self, *, settings: Settings, reports: ReportService, outbox: OutboxService):
        self._settings = settings
        self._reports = reports
        self._outbox = outbox

    async def send_period_ended(self, at: datetime) -> dict[str, int]:
        """Report the billing period that ended before ``at``; counts of organisations and rows
        (and of organisations skipped because their report went out already)."""
        start, end, key = self._reports.period_just_ended(at)
        organizations = messages = already = 0
        reported = set(
            await UsageReportNotice.filter(period_key=key).values_list("organization_id", flat=True)
        )
        for org_id, name in (
            await Organization.filter(is_active=True).order_by("id").values_list("id", "name")
        ):
            sent = None
            if org_id not in reported:
                sent = await self._send_once(org_id, name, (start, end, key), sent_at=at)
            if sent is None:
                already += 1
                continue
            messages += sent
            organizations += 1
        counts = {"organizations": organizations, "messages": messages}
        return {**counts, "already_sent": already} if already else counts

    async def _send_once(
        self, org_id: int, name: str, period: tuple[datetime, datetime, str], *, sent_at: datetime
    ) -> int | None:
        """One organisation's report in one transaction with its ``UsageReportNotice``: a crash
        later on keeps what was written, and a rerun skips it (None: sent before)."""
        start, end, key = period
        report = await self._reports.build(org_id, start, end, key)
        admins = await Membership.filter(organization_id=org_id, role=Role.ADMIN).values_list(
            "user_id", flat=True
        )
        payload = self.payload(report, organization=name)
        try:
            async with in_transaction() as conn:
                await UsageReportNotice.create(
                    using_db=conn, organization_id=org_id, period_key=key, created_at=sent_at
                )
                return await self._outbox.enqueue(
                    connection=conn, user_ids=admins, kind=KIND_USAGE_REPORT, payload=payload
                )
        except IntegrityError:  # a concurrent run got there first
            return None

    def payload(self, report: PeriodReport, *, organization: str) -> dict[str, Any]:
        zone = self._settings.zone
        return {
            "organization_id": report.organization_id,
            "organization": organization,
            "period_key": report.period_key,
            "calendar": self._settings.billing_calendar.value,
            "first_day": report.start.astimezone(zone).date().isoformat(),
            "last_day": (report.end.astimezone(zone) - timedelta(days=1)).date().isoformat(),
            "requests": report.requests,
            "tokens": report.tokens,
            "cost_usd": str(report.cost_usd),
            "by_workspace": _lines(report.by_workspace),
            "more_workspaces": max(len(report.by_workspace) - MAX_LINES, 0),
            "by_user": _lines(report.by_user),
            "more_users": max(len(report.by_user) - MAX_LINES, 0),
        }


def _lines(lines: list[UsageLine]) -> list[dict[str, Any]]:
    return [
        {
            "label": line.label,
            "requests": line.requests,
            "tokens": line.tokens,
            "cost_usd": str(line.cost_usd),
        }
        for line in lines[:MAX_LINES]
    ]
