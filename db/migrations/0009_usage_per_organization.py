from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

# Hand-added to the generated operations: the data steps (RunSQL) and _RemoveUnique.


class _RemoveUnique(ops.RemoveConstraint):
    """RemoveConstraint that also works on SQLite.

    There ``unique_together`` is an inline ``UNIQUE(...)`` of the table, not an index that can
    be dropped, so the table is rebuilt without it (SQLite's documented ALTER TABLE recipe).
    The rebuilt tables (usage_counters, usage_limits) have no other indexes to lose.
    """

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is not None and state_editor.DIALECT == "sqlite":
            model = new_state.apps.get_model(f"{app_label}.{self.model_name}")
            await state_editor._remake_table(model)
            return
        await super().database_forward(app_label, old_state, new_state, state_editor)


class Migration(migrations.Migration):
    dependencies = [('models', '0008_otp_code_requester')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Content',
            name='current_job_id',
            field=fields.IntField(null=True),
        ),
        # A content generating now belongs to its newest active job.
        ops.RunSQL(
            "UPDATE contents SET current_job_id = (SELECT MAX(j.id) FROM generation_jobs j "
            "WHERE j.content_id = contents.id AND j.status IN ('pending', 'running')) "
            "WHERE status = 'generating'"
        ),
        _RemoveUnique(
            model_name='UsageCounter',
            name=None,
            fields=['scope', 'scope_id', 'period', 'period_key'],
        ),
        ops.AddField(
            model_name='UsageCounter',
            name='organization',
            field=fields.ForeignKeyField('models.Organization', source_field='organization_id', null=True, db_constraint=True, to_field='id', related_name='usage_counters', on_delete=OnDelete.CASCADE),
        ),
        # Existing counters: organisation and workspace ones name their organisation. A user
        # counter was the person's across organisations: each organisation they belong to gets a
        # copy of what was used (so nobody gains budget mid-period); the old row keeps what
        # in-flight reservations hold, with no organisation, and is never matched again.
        ops.RunSQL(
            [
                "UPDATE usage_counters SET organization_id = scope_id "
                "WHERE scope = 'organization'",
                "UPDATE usage_counters SET organization_id = (SELECT w.organization_id "
                "FROM workspaces w WHERE w.id = usage_counters.scope_id) "
                "WHERE scope = 'workspace'",
                "INSERT INTO usage_counters (organization_id, scope, scope_id, period, "
                "period_key, requests, tokens, cost_usd, reserved_requests, reserved_tokens, "
                "reserved_cost_usd, updated_at) "
                "SELECT m.organization_id, c.scope, c.scope_id, c.period, c.period_key, "
                "c.requests, c.tokens, c.cost_usd, 0, 0, 0, c.updated_at "
                "FROM usage_counters c JOIN memberships m ON m.user_id = c.scope_id "
                "WHERE c.scope = 'user' AND c.organization_id IS NULL",
            ]
        ),
        ops.AddConstraint(
            model_name='UsageCounter',
            constraint=UniqueConstraint(fields=('organization', 'scope', 'scope_id', 'period', 'period_key'), name=None),
        ),
        # Limits already name the organisation that wrote them: a user limit now applies there.
        _RemoveUnique(
            model_name='UsageLimit',
            name=None,
            fields=['scope', 'scope_id', 'period'],
        ),
        ops.AddConstraint(
            model_name='UsageLimit',
            constraint=UniqueConstraint(fields=('organization', 'scope', 'scope_id', 'period'), name=None),
        ),
    ]
