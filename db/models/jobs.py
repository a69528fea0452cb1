"""Work that runs in the background: generation jobs and scheduler runs."""

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from db.models.enums import GenerationKind, JobStatus


class GenerationJob(Model):
    """One generation: ``heartbeat_at`` lets the scheduler reap jobs whose process died."""

    id = fields.IntField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="generation_jobs", on_delete=fields.CASCADE
    )
    workspace = fields.ForeignKeyField(
        "models.Workspace", related_name="generation_jobs", on_delete=fields.CASCADE
    )
    content = fields.ForeignKeyField(
        "models.Content", related_name="jobs", on_delete=fields.CASCADE
    )
    user = fields.ForeignKeyField(
        "models.User", related_name="generation_jobs", null=True, on_delete=fields.SET_NULL
    )
    kind = fields.CharEnumField(GenerationKind, max_length=20)
    status = fields.CharEnumField(JobStatus, max_length=20, default=JobStatus.PENDING)
    model = fields.CharField(max_length=100)
    params = fields.JSONField(default=dict)
    error = fields.CharField(max_length=100, null=True)  # a DomainError code
    version_number = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    heartbeat_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    # The process instance running it (ProcessLease.instance): when that lease has expired,
    # the job is dead and any process reaps it at once.
    owner = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "generation_jobs"
        indexes = (
            Index(fields=("status", "heartbeat_at"), name="job_status_heartbeat_idx"),
            Index(fields=("content_id",), name="job_content_idx"),
            Index(fields=("status", "owner"), name="job_status_owner_idx"),
        )


class ProcessLease(Model):
    """A running process instance and until when it is known alive (renewed while it runs).

    Used when there is no Redis (with Redis the lease is a key with an expiry). A process whose
    lease expired is dead: its generation jobs are reaped. The row also records what the
    instance runs and its last heartbeat, for contexor status.
    """

    instance = fields.CharField(max_length=64, primary_key=True)
    started_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    heartbeat_at = fields.DatetimeField(null=True)
    parts = fields.JSONField(default=list)
    stopped = fields.BooleanField(default=False)

    class Meta:
        table = "process_leases"


class JobRun(Model):
    """One run of a scheduler job for one period: the unique key makes each period run once.

    The first line of a model docstring becomes an SQL table comment, and Tortoise 1.1.9 neither
    escapes quotes in it nor copes with semicolons (its migration runner splits SQL on them), so
    those first lines carry no apostrophe and no semicolon.
    """

    id = fields.IntField(primary_key=True)
    job_name = fields.CharField(max_length=100)
    period_key = fields.CharField(max_length=40)
    started_at = fields.DatetimeField()
    finished_at = fields.DatetimeField(null=True)
    succeeded = fields.BooleanField(null=True)
    detail = fields.JSONField(default=dict)

    class Meta:
        table = "job_runs"
        unique_together = (("job_name", "period_key"),)
