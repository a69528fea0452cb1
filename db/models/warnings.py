"""The usage-limit warnings already sent: one row per scope, period and metric."""

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
