"""Notices sent once: usage-limit warnings (per scope, period and metric) and end-of-period
usage reports (per organisation and period)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from db.models.enums import UsagePeriod, UsageScope


class LimitWarning(Model):
    """A warning that a scope passed a share of one limit in one period, sent once.

    The unique key is the once: whichever scheduler inserts the row first sends the message, in
    the same transaction, and every later check (or a second scheduler) finds the row and skips.
    """

    id = fields.IntField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="limit_warnings", on_delete=fields.CASCADE
    )
    scope = fields.CharEnumField(UsageScope, max_length=20)
    scope_id = fields.IntField()
    period = fields.CharEnumField(UsagePeriod, max_length=10)
    period_key = fields.CharField(max_length=20)
    metric = fields.CharField(max_length=10)  # requests, tokens or cost
    created_at = fields.DatetimeField()

    class Meta:
        table = "limit_warnings"
        unique_together = (("organization", "scope", "scope_id", "period", "period_key", "metric"),)


class UsageReportNotice(Model):
    """An organisation's end-of-period usage report, sent once.

    Inserted in the transaction that writes the report's outbox rows: a rerun of the rollover
    (by hand after a crash, or a catch-up) finds it and skips that organisation, so the admins
    of organisations already reported are not sent the report again.
    """

    id = fields.IntField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="usage_report_notices", on_delete=fields.CASCADE
    )
    period_key = fields.CharField(max_length=20)
    created_at = fields.DatetimeField()

    class Meta:
        table = "usage_report_notices"
        unique_together = (("organization", "period_key"),)
