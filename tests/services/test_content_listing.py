"""The content list's one-query path returns exactly what the ORM path does (PostgreSQL)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from core.container import Services
from core.services.common import Listing
from core.services.content_listing import ContentSummary
from db.models import Content, ContentStatus, Organization, Project, Role, User
from tests.support.factories import (
    add_member,
    make_org,
    make_project,
    make_workspace,
    principal_for,
)
from tests.support.queries import recording_queries

pytestmark = pytest.mark.postgres

LONG_BODY = "سطر اول\n\n" + " ".join(["واژه‌ای بلند"] * 150)


async def _content(
    project: Project, author: User, status: ContentStatus, n: int, **fields
) -> Content:
    await project.fetch_related("workspace")
    at = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=n)
    return await Content.create(
        organization_id=project.workspace.organization_id,
        workspace_id=project.workspace_id,
        project_id=project.id,
        title=f"عنوان {n}",
        body=LONG_BODY if n % 2 else f"متن کوتاه {n}",
        status=status,
        variables={"n": n},
        pii_findings={"phone": 1} if n % 3 == 0 else {},
        has_pii=n % 3 == 0,
        created_by_id=author.id,
        decided_at=at if status in (ContentStatus.APPROVED, ContentStatus.REJECTED) else None,
        rejection_reason="منبع" if status == ContentStatus.REJECTED else None,
        created_at=at,
        **fields,
    )


@pytest.fixture
async def world(db: str) -> dict:
    org = await make_org()
    second = await make_org()
    foreign = await make_org()
    people = {role: await add_member(org, role) for role in Role}
    other_writer = await add_member(org, Role.WRITER)
    # The writer is a viewer in the second organisation: two rules in one list.
    await add_member(second, Role.VIEWER, user=people[Role.WRITER])
    await add_member(second, Role.ADMIN, user=people[Role.ADMIN])
    workspace = await make_workspace(org)
    projects = [await make_project(workspace), await make_project(workspace)]
    second_project = await make_project(await make_workspace(second))
    retired = await make_project(workspace)
    foreign_project = await make_project(await make_workspace(foreign))
    foreign_admin = await add_member(foreign, Role.ADMIN)
    counter = itertools.count()
    authors = [people[Role.WRITER], other_writer, people[Role.EDITOR]]
    for project, author, status in itertools.product(
        [*projects, second_project], authors, list(ContentStatus)
    ):
        await _content(project, author, status, next(counter))
    await _content(retired, people[Role.WRITER], ContentStatus.APPROVED, next(counter))
    retired.is_active = False
    await retired.save()
    await _content(
        projects[0],
        people[Role.WRITER],
        ContentStatus.APPROVED,
        next(counter),
        deleted_at=datetime(2026, 3, 2, tzinfo=UTC),
    )
    await _content(foreign_project, foreign_admin, ContentStatus.APPROVED, next(counter))
    return {
        "people": people,
        "org": org,
        "second": second,
        "workspace": workspace,
        "projects": projects,
    }


def _filters(world: dict, actor: User) -> list[dict]:
    return [
        {},
        {"organization_id": world["org"].id},
        {"organization_id": world["second"].id},
        {"workspace_id": world["workspace"].id},
        {"project_id": world["projects"][1].id},
        {"status": ContentStatus.APPROVED},
        {"status": ContentStatus.DRAFT, "project_id": world["projects"][0].id},
        {"author_id": actor.id},
        {"offset": 5, "limit": 7},
        {"offset": 0, "limit": 1},
    ]


@pytest.mark.parametrize("role", list(Role))
async def test_the_one_query_path_returns_what_the_orm_path_does(
    services: Services, world: dict, role: Role
) -> None:
    user = world["people"][role]
    actor = await principal_for(user)
    orgs_of_actor = {
        world["org"].id,
        *([world["second"].id] if role in (Role.WRITER, Role.ADMIN) else []),
    }
    for filters in _filters(world, user):
        if filters.get("organization_id") not in (None, *orgs_of_actor):
            continue
        orm = await services.content.list_contents(actor=actor, **filters)
        with recording_queries() as log:
            fast = await services.content.list_summaries(actor=actor, **filters)
        assert fast == Listing(count=orm.count, items=[ContentSummary.of(c) for c in orm.items])
        # The one query, not the ORM's two (a workspace or project filter is looked up first).
        lookups = int("workspace_id" in filters or "project_id" in filters)
        assert log.count == 1 + lookups, (filters, log.statements)
    assert (await services.content.list_summaries(actor=actor)).count > 0


async def test_a_page_past_the_end_still_counts(services: Services, world: dict) -> None:
    actor = await principal_for(world["people"][Role.ADMIN])
    everything = await services.content.list_summaries(actor=actor)
    past = await services.content.list_summaries(actor=actor, offset=everything.count + 5)
    assert past == Listing(count=everything.count, items=[])


async def test_a_search_takes_the_orm_path_with_the_same_shape(
    services: Services, world: dict
) -> None:
    actor = await principal_for(world["people"][Role.EDITOR])
    orm = await services.content.list_contents(actor=actor, search="عنوان 1")
    fast = await services.content.list_summaries(actor=actor, search="عنوان 1")
    assert fast == Listing(count=orm.count, items=[ContentSummary.of(c) for c in orm.items])
    assert fast.count > 0


async def test_an_organisation_retired_hides_its_content(services: Services, world: dict) -> None:
    actor = await principal_for(world["people"][Role.ADMIN])
    before = await services.content.list_summaries(actor=actor)
    await Organization.filter(id=world["second"].id).update(is_active=False)
    actor = await principal_for(world["people"][Role.ADMIN])
    after = await services.content.list_summaries(actor=actor)
    orm = await services.content.list_contents(actor=actor)
    assert after.count == orm.count < before.count
