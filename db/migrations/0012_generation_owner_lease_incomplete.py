from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0011_outbox_group_chat')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ProcessLease',
            fields=[
                ('instance', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'process_leases', 'app': 'models', 'pk_attr': 'instance', 'table_description': 'A running process instance and until when it is known alive (renewed while it runs).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='ContentVersion',
            name='incomplete',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='GenerationJob',
            name='owner',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddIndex(
            model_name='GenerationJob',
            index=Index(fields=['status', 'owner'], name='job_status_owner_idx'),
        ),
    ]
