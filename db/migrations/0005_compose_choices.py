from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_bot_conversation_per_chat')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ComposeChoice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.OneToOneField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='compose_choice', on_delete=OnDelete.CASCADE)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='+', on_delete=OnDelete.CASCADE)),
                ('project', fields.ForeignKeyField('models.Project', source_field='project_id', db_constraint=True, to_field='id', related_name='+', on_delete=OnDelete.CASCADE)),
                ('prompt', fields.ForeignKeyField('models.Prompt', source_field='prompt_id', null=True, db_constraint=True, to_field='id', related_name='+', on_delete=OnDelete.SET_NULL)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'compose_choices', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One row per user: the project and prompt of their last composition.'},
            bases=['Model'],
        ),
    ]
