# Hand-added to the generated operations: the data step (RunSQL) for content already in review.
from tortoise import migrations
from tortoise.migrations import operations as ops
from db.models.enums import UsagePeriod, UsageScope
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_usage_per_organization')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LimitWarning',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='limit_warnings', on_delete=OnDelete.CASCADE)),
                ('scope', fields.CharEnumField(description='ORGANIZATION: organization\nWORKSPACE: workspace\nUSER: user', enum_type=UsageScope, max_length=20)),
                ('scope_id', fields.IntField()),
                ('period', fields.CharEnumField(description='DAILY: daily\nMONTHLY: monthly', enum_type=UsagePeriod, max_length=10)),
                ('period_key', fields.CharField(max_length=20)),
                ('metric', fields.CharField(max_length=10)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'limit_warnings', 'app': 'models', 'unique_together': (('organization', 'scope', 'scope_id', 'period', 'period_key', 'metric'),), 'pk_attr': 'id', 'table_description': 'A warning that a scope passed a share of one limit in one period, sent once.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Content',
            name='submitted_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        # Content already in review was submitted at its last change, at the latest.
        ops.RunSQL("UPDATE contents SET submitted_at = updated_at WHERE status = 'review'"),
    ]
