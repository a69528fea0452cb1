from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0010_scheduler_notices')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='OutboxMessage',
            options={'table': 'outbox_messages', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at'], name='outbox_status_due_idx'), Index(fields=['lease_token'], name='outbox_lease_idx'), Index(fields=['content_id', 'kind'], name='outbox_content_kind_idx')], 'pk_attr': 'id', 'table_description': 'One notification for one person (or one group chat), kept until sent or given up.'},
        ),
        ops.AlterField(
            model_name='OutboxMessage',
            name='user',
            field=fields.ForeignKeyField('models.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='outbox_messages', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='chat_id',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='content_id',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='OutboxMessage',
            name='language',
            field=fields.CharField(null=True, max_length=2),
        ),
        ops.AddIndex(
            model_name='OutboxMessage',
            index=Index(fields=['content_id', 'kind'], name='outbox_content_kind_idx'),
        ),
    ]
