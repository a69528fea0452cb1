"""One live content row by id in one parameterised query (PostgreSQL): the detail's hot path.

``live_contents().get_or_none(id=...)`` (``core/services/content.py``) has pypika build the same
three-join SQL text anew for every request; here the text is fixed once and only the id is a
parameter. The row is turned into a ``Content`` by the ORM's own ``_init_from_db``, as the ORM
does with its rows, so everything after (the read rule, the JSON) is the same code on both paths;
``tests/services/test_content_detail.py`` checks that both find exactly the same rows. Whether the
actor may read it stays in ``ContentService._visible``, in one place for every path.
"""

from __future__ import annotations

from functools import cache

from tortoise.backends.base.client import BaseDBAsyncClient

from db import raw
from db.models import Content


@cache
def _sql() -> str:
    """Fixed text, built once after the ORM is set up (the foreign-key columns exist only then):
    the columns come from the model, the id is a parameter. "Live" as in ``live_contents()``:
    not deleted, and its project, workspace and organisation all active."""
    columns = ", ".join(f"c.{column}" for column in raw.column_names(Content))
    return f"""SELECT {columns}
FROM contents c
JOIN projects p ON p.id = c.project_id AND p.is_active
JOIN workspaces w ON w.id = c.workspace_id AND w.is_active
JOIN organizations o ON o.id = c.organization_id AND o.is_active
WHERE c.id = $1 AND c.deleted_at IS NULL
"""  # noqa: S608


async def fetch_live_content(client: BaseDBAsyncClient, content_id: int) -> Content | None:
    """The live content ``content_id`` (None: unknown, deleted or retired) on PostgreSQL's
    ``client`` (``db.raw.postgres()``)."""
    rows = await raw.fetch(client, _sql(), content_id)
    return raw.model(Content, rows[0]) if rows else None
