"""The audit trail. It references content by plain id, so it outlives the content it describes."""

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class AuditLog(Model):
    id = fields.IntField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="audit_logs", on_delete=fields.CASCADE
    )
    actor = fields.ForeignKeyField(
        "models.User", related_name="audit_entries", null=True, on_delete=fields.SET_NULL
    )
    action = fields.CharField(max_length=40)
    target_type = fields.CharField(max_length=30)
    target_id = fields.IntField(null=True)
    content_ref = fields.IntField(null=True)  # no FK on purpose: survives deletion
    old_status = fields.CharField(max_length=20, null=True)
    new_status = fields.CharField(max_length=20, null=True)
    changes = fields.JSONField(default=dict)
    note = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_logs"
        indexes = (
            Index(fields=("organization_id", "created_at"), name="audit_org_created_idx"),
            Index(fields=("content_ref",), name="audit_content_idx"),
        )
