from tortoise import migrations
from tortoise.migrations import operations as ops
from db.models.enums import Role
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_content_org_deleted_index')]

    initial = False

    operations = [
        ops.CreateModel(
            name='InviteLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', db_constraint=True, to_field='id', related_name='invite_links', on_delete=OnDelete.CASCADE)),
                ('role', fields.CharEnumField(description='ADMIN: admin\nEDITOR: editor\nWRITER: writer\nVIEWER: viewer', enum_type=Role, max_length=10)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='invite_links_created', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('used_by', fields.ForeignKeyField('models.User', source_field='used_by_id', null=True, db_constraint=True, to_field='id', related_name='invite_links_used', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'invite_links', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One deep-link invitation. Only the SHA-256 of the token is stored, never the token.'},
            bases=['Model'],
        ),
    ]
