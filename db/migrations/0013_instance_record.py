from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0012_generation_owner_lease_incomplete')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ProcessLease',
            name='heartbeat_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='ProcessLease',
            name='parts',
            field=fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.AddField(
            model_name='ProcessLease',
            name='stopped',
            field=fields.BooleanField(default=False),
        ),
    ]
