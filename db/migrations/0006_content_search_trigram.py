from tortoise import migrations
from tortoise.migrations import operations as ops

# Content search (core/services/content.py) filters with Tortoise's icontains, which PostgreSQL
# runs as UPPER(CAST(col AS VARCHAR)) LIKE UPPER('%term%'): trigram GIN indexes on exactly those
# expressions serve it. PostgreSQL only (pg_trgm is a trusted extension since PostgreSQL 13, so
# the database owner may create it); SQLite keeps scanning, which its small deployments afford.
# Not in the models: Tortoise cannot declare an expression index with an operator class, and
# the index leaves the model state unchanged, so the migration drift test is unaffected.
_FORWARD = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS content_title_trgm_idx ON contents "
    "USING gin (UPPER(CAST(title AS VARCHAR)) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS content_body_trgm_idx ON contents "
    "USING gin (UPPER(CAST(body AS VARCHAR)) gin_trgm_ops)",
)
_BACKWARD = (
    "DROP INDEX IF EXISTS content_body_trgm_idx",
    "DROP INDEX IF EXISTS content_title_trgm_idx",
)


async def _run_on_postgres(statements, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    for statement in statements:
        await client.execute_script(statement)


async def add_trigram_indexes(apps, schema_editor) -> None:
    await _run_on_postgres(_FORWARD, schema_editor)


async def drop_trigram_indexes(apps, schema_editor) -> None:
    await _run_on_postgres(_BACKWARD, schema_editor)


class Migration(migrations.Migration):
    dependencies = [('models', '0005_compose_choices')]

    initial = False

    operations = [
        ops.RunPython(add_trigram_indexes, drop_trigram_indexes),
    ]
