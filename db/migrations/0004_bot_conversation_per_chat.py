from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0003_invite_links')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='BotConversation',
            options={'table': 'bot_conversations', 'app': 'models', 'unique_together': (('chat_id', 'telegram_user_id'),), 'pk_attr': 'id', 'table_description': 'One row per (chat, Telegram user): a private chat and a group never collide.'},
        ),
        ops.AlterField(
            model_name='BotConversation',
            name='telegram_user_id',
            field=fields.BigIntField(),
        ),
        ops.AddConstraint(
            model_name='BotConversation',
            constraint=UniqueConstraint(fields=('chat_id', 'telegram_user_id'), name=None),
        ),
    ]
