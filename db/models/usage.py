"""Usage accounting: limits, per-period counters with reservations, and the usage log.

A limit applies to one scope (organisation, workspace or user) and period. ``UsageCounter`` holds
what a scope used in one period (``period_key`` such as ``2026-11`` or ``1405-09``) plus what
in-flight generations reserved; a reservation is one conditional UPDATE per counter, so
concurrent requests can never pass a limit together.
"""

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from db.models.enums import ReservationStatus, UsagePeriod, UsageScope


class UsageLimit(Model):
    id = fields.IntField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="usage_limits", on_delete=fields.CASCADE
    )
    scope = fields.CharEnumField(UsageScope, max_length=20)
    scope_id = fields.IntField()
    period = fields.CharEnumField(UsagePeriod, max_length=10)
    requests_limit = fields.IntField(null=True)  # null: no cap; 0: none allowed
    tokens_limit = fields.BigIntField(null=True)
    cost_limit_usd = fields.DecimalField(max_digits=14, decimal_places=6, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "usage_limits"
        # A user's limit is per organisation: one organisation never caps a person's use of another.
        unique_together = (("organization", "scope", "scope_id", "period"),)


class UsageCounter(Model):
    id = fields.IntField(primary_key=True)
    # The organisation charged. Null only on user counters kept from before user usage was
    # counted per organisation (no new row is written without it).
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="usage_counters", null=True, on_delete=fields.CASCADE
    )
    scope = fields.CharEnumField(UsageScope, max_length=20)
    scope_id = fields.IntField()
    period = fields.CharEnumField(UsagePeriod, max_length=10)
    period_key = fields.CharField(max_length=20)
    requests = fields.IntField(default=0)
    tokens = fields.BigIntField(default=0)
    cost_usd = fields.DecimalField(max_digits=14, decimal_places=6, default=0)
    reserved_requests = fields.IntField(default=0)
    reserved_tokens = fields.BigIntField(default=0)
    reserved_cost_usd = fields.DecimalField(max_digits=14, decimal_places=6, default=0)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "usage_counters"
        unique_together = (("organization", "scope", "scope_id", "period", "period_key"),)
        # The limit-warning check reads every counter of the current periods, across
        # organisations (core/services/limit_warnings.py): the unique key starts elsewhere.
        indexes = (Index(fields=("period", "period_key"), name="usage_counters_period_idx"),)


class UsageReservation(Model):
    """What one job holds: ``counter_ids`` lists the counters it was taken from."""

    id = fields.IntField(primary_key=True)
    job = fields.OneToOneField(
        "models.GenerationJob", related_name="reservation", on_delete=fields.CASCADE
    )
    requests = fields.IntField()
    tokens = fields.BigIntField()
    cost_usd = fields.DecimalField(max_digits=14, decimal_places=6)
    counter_ids = fields.JSONField(default=list)
    status = fields.CharEnumField(ReservationStatus, max_length=10, default=ReservationStatus.HELD)
    created_at = fields.DatetimeField(auto_now_add=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "usage_reservations"


class UsageLog(Model):
    id = fields.IntField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="usage_logs", on_delete=fields.CASCADE
    )
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="usage_logs", null=True, on_delete=fields.SET_NULL
    )
    user = fields.ForeignKeyField(
        "models.User", related_name="usage_logs", null=True, on_delete=fields.SET_NULL
    )
    content = fields.ForeignKeyField(
        "models.Content", related_name="usage_logs", null=True, on_delete=fields.SET_NULL
    )
    job = fields.ForeignKeyField(
        "models.GenerationJob", related_name="usage_logs", null=True, on_delete=fields.SET_NULL
    )
    model = fields.CharField(max_length=100)
    prompt_tokens = fields.IntField(default=0)
    completion_tokens = fields.IntField(default=0)
    total_tokens = fields.IntField(default=0)
    cost_usd = fields.DecimalField(max_digits=14, decimal_places=6, default=0)
    success = fields.BooleanField(default=True)
    error = fields.CharField(max_length=100, null=True)
    duration_ms = fields.IntField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "usage_logs"
        indexes = (
            Index(fields=("organization_id", "created_at"), name="usage_org_created_idx"),
            Index(fields=("workspace_id", "created_at"), name="usage_ws_created_idx"),
            Index(fields=("user_id", "created_at"), name="usage_user_created_idx"),
        )
