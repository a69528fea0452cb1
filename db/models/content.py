"""Content and its numbered versions.

``organization`` and ``workspace`` repeat what ``project`` implies so that every tenant filter is
one indexed column, not a join. ``version_count`` is the number of the newest version; the next
number is allocated inside a transaction and ``unique_together(content, number)`` backs it.
"""

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from db.models.enums import ContentStatus, VersionSource


class Content(Model):
    id = fields.IntField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="contents", on_delete=fields.CASCADE
    )
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="contents", on_delete=fields.CASCADE
    )
    project = fields.ForeignKeyField(
        "models.Project", related_name="contents", on_delete=fields.CASCADE
    )
    prompt = fields.ForeignKeyField(
        "models.Prompt", related_name="contents", null=True, on_delete=fields.SET_NULL
    )
    title = fields.CharField(max_length=500)
    body = fields.TextField(default="")
    status = fields.CharEnumField(ContentStatus, max_length=20, default=ContentStatus.DRAFT)
    variables = fields.JSONField(default=dict)
    word_count = fields.IntField(default=0)
    has_pii = fields.BooleanField(default=False)
    pii_findings = fields.JSONField(default=dict)
    version_count = fields.IntField(default=0)
    # The generation job that owns the content while it is generating (no FK: jobs reference
    # contents). Only that job may finish or abort the generation.
    current_job_id = fields.IntField(null=True)
    created_by = fields.ForeignKeyField(
        "models.User", related_name="created_contents", null=True, on_delete=fields.SET_NULL
    )
    decided_by = fields.ForeignKeyField(
        "models.User", related_name="decided_contents", null=True, on_delete=fields.SET_NULL
    )
    # When it last went into review: the review reminder counts the wait from here.
    submitted_at = fields.DatetimeField(null=True)
    decided_at = fields.DatetimeField(null=True)
    rejection_reason = fields.TextField(null=True)
    approved_version = fields.IntField(null=True)  # number of the version that was approved
    deleted_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "contents"
        indexes = (
            Index(fields=("organization_id", "status"), name="content_org_status_idx"),
            # Lists count the live rows of an organisation: an index-only scan, not the heap.
            Index(fields=("organization_id", "deleted_at"), name="content_org_deleted_idx"),
            Index(fields=("project_id", "created_at"), name="content_project_created_idx"),
            Index(fields=("created_by_id",), name="content_created_by_idx"),
        )


class ContentVersion(Model):
    id = fields.IntField(primary_key=True)
    content = fields.ForeignKeyField(
        "models.Content", related_name="versions", on_delete=fields.CASCADE
    )
    number = fields.IntField()
    title = fields.CharField(max_length=500)
    body = fields.TextField()
    source = fields.CharEnumField(VersionSource, max_length=20)
    job = fields.ForeignKeyField(
        "models.GenerationJob", related_name="versions", null=True, on_delete=fields.SET_NULL
    )
    created_by = fields.ForeignKeyField(
        "models.User", related_name="content_versions", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    # A generation cut short (the stream broke, or shutdown cancelled it): what arrived, kept
    # because it was billed, but not the whole answer.
    incomplete = fields.BooleanField(default=False)

    class Meta:
        table = "content_versions"
        unique_together = (("content", "number"),)
