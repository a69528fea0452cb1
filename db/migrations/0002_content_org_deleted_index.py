from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Content',
            index=Index(fields=['organization_id', 'deleted_at'], name='content_org_deleted_idx'),
        ),
    ]
