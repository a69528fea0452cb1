from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_outbox')]

    initial = False

    operations = [
        ops.AddField(
            model_name='OtpCode',
            name='client_network',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='OtpCode',
            name='telegram_user_id',
            field=fields.BigIntField(null=True),
        ),
    ]
