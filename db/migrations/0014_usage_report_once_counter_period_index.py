from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0013_instance_record')]

    initial = False

    operations = [
        ops.CreateModel(
            name='UsageReportNotice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='usage_report_notices', on_delete=OnDelete.CASCADE)),
                ('period_key', fields.CharField(max_length=20)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'usage_report_notices', 'app': 'models', 'unique_together': (('organization', 'period_key'),), 'pk_attr': 'id', 'table_description': "An organisation's end-of-period usage report, sent once."},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='UsageCounter',
            index=Index(fields=['period', 'period_key'], name='usage_counters_period_idx'),
        ),
    ]
