"""The detail's one-query path finds exactly what the ORM path does (PostgreSQL).

Every content row of the listing's world (all statuses and authors, a deleted one, one in a retired
project, another organisation's) and an unknown id, read by every role: the same content, the same
JSON bytes, or the same 404, in one statement.
"""

from __future__ import annotations

import pytest

from core.api.http import json_response
from core.api.schemas.content import ContentOut
from core.container import Services
from core.errors import NotFound
from core.services import content_detail
from core.services.content import live_contents
from db import raw
from db.models import Content, Role
from tests.services.test_content_listing import world  # noqa: F401 (the shared fixture)
from tests.support.factories import principal_for
from tests.support.queries import recording_queries

pytestmark = pytest.mark.postgres


def fields_of(content: Content | None) -> dict | None:
    if content is None:
        return None
    return {name: getattr(content, name) for name in Content._meta.fields_db_projection}


async def all_ids() -> list[int]:
    ids = sorted(await Content.all().values_list("id", flat=True))
    return [*ids, ids[-1] + 1000]


async def test_the_query_finds_what_live_contents_finds(world: dict) -> None:  # noqa: F811
    found = 0
    for content_id in await all_ids():
        orm = await live_contents().get_or_none(id=content_id)
        fast = await content_detail.fetch_live_content(raw.postgres(), content_id)
        assert fields_of(fast) == fields_of(orm), content_id
        found += orm is not None
    assert 0 < found < len(await all_ids()) - 2  # deleted, retired and unknown ids are missed


async def read(services: Services, actor, content_id: int) -> bytes | None:
    try:
        content = await services.content.get(actor=actor, content_id=content_id)
    except NotFound:
        return None
    return json_response(ContentOut.from_domain(content)).body


@pytest.mark.parametrize("role", list(Role))
async def test_every_role_reads_the_same_json_or_404_on_both_paths(
    services: Services,
    world: dict,  # noqa: F811
    role: Role,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    actor = await principal_for(world["people"][role])
    ids = await all_ids()
    fast = []
    for content_id in ids:
        with recording_queries() as log:
            fast.append(await read(services, actor, content_id))
        assert log.count == 1, log.statements
    monkeypatch.setattr(raw, "postgres", lambda: None)  # the ORM path
    orm = [await read(services, actor, content_id) for content_id in ids]
    assert fast == orm
    assert any(body is None for body in fast) and any(body is not None for body in fast)
