"""Workspaces and projects: admins manage, members read, slugs per parent, soft deletion."""

from __future__ import annotations

import asyncio

import pytest
from tortoise.transactions import in_transaction

from core.errors import InvalidInput, NotFound, PermissionDenied
from core.services.catalog import DEFAULT_SLUG, CatalogService, ensure_default_catalog
from db.models import Project, Role, Workspace
from tests.support.factories import (
    add_member,
    make_org,
    make_project,
    make_workspace,
    org_with_roles,
    principal_for,
)

pytestmark = pytest.mark.sqlite


async def test_admins_create_workspaces_with_slugs_from_persian_or_english_names(db: str) -> None:
    service = CatalogService()
    org, members = await org_with_roles()
    admin = members[Role.ADMIN]
    persian = await service.create_workspace(
        actor=await principal_for(admin),
        organization_id=org.id,
        name="  تیم فروش ۱۴۰۳ ",
        description=" متن ",
    )
    assert (persian.name, persian.slug, persian.description) == (
        "تیم فروش ۱۴۰۳",
        "تیم-فروش-1403",
        "متن",
    )
    english = await service.create_workspace(
        actor=await principal_for(admin), organization_id=org.id, name="Sales Team"
    )
    again = await service.create_workspace(
        actor=await principal_for(admin), organization_id=org.id, name="sales team!"
    )
    assert (english.slug, again.slug) == ("sales-team", "sales-team-2")
    other = await make_org()
    elsewhere = await service.create_workspace(
        actor=await principal_for(await add_member(other, Role.ADMIN)),
        organization_id=other.id,
        name="Sales Team",
    )
    assert elsewhere.slug == "sales-team"  # slugs are unique per organisation only


async def test_concurrent_creations_with_one_name_get_distinct_slugs(db: str) -> None:
    service = CatalogService()
    org, members = await org_with_roles()
    workspaces = await asyncio.gather(
        *[
            service.create_workspace(
                actor=await principal_for(members[Role.ADMIN]),
                organization_id=org.id,
                name="گزارش ماهانه",
            )
            for _ in range(4)
        ]
    )
    assert sorted(w.slug for w in workspaces) == sorted(
        ["گزارش-ماهانه", "گزارش-ماهانه-2", "گزارش-ماهانه-3", "گزارش-ماهانه-4"]
    )
    projects = await asyncio.gather(
        *[
            service.create_project(
                actor=await principal_for(members[Role.ADMIN]),
                workspace_id=workspaces[0].id,
                name="Launch",
            )
            for _ in range(3)
        ]
    )
    assert sorted(p.slug for p in projects) == ["launch", "launch-2", "launch-3"]


async def test_only_admins_write_and_every_member_reads(db: str) -> None:
    service = CatalogService()
    org, members = await org_with_roles()
    workspace = await make_workspace(org)
    project = await make_project(workspace)
    for role in (Role.EDITOR, Role.WRITER, Role.VIEWER):
        actor = members[role]
        for call in (
            service.create_workspace(
                actor=await principal_for(actor), organization_id=org.id, name="X"
            ),
            service.update_workspace(
                actor=await principal_for(actor), workspace_id=workspace.id, name="X"
            ),
            service.delete_workspace(actor=await principal_for(actor), workspace_id=workspace.id),
            service.create_project(
                actor=await principal_for(actor), workspace_id=workspace.id, name="X"
            ),
            service.update_project(
                actor=await principal_for(actor), project_id=project.id, name="X"
            ),
            service.delete_project(actor=await principal_for(actor), project_id=project.id),
        ):
            with pytest.raises(PermissionDenied):
                await call
    for role in Role:
        assert (
            await service.get_workspace(
                actor=await principal_for(members[role]), workspace_id=workspace.id
            )
        ).id
        got = await service.get_project(
            actor=await principal_for(members[role]), project_id=project.id
        )
        assert got.workspace.organization_id == org.id  # loaded for the content service


async def test_another_tenant_gets_not_found_for_everything(db: str) -> None:
    service = CatalogService()
    org, _ = await org_with_roles()
    workspace = await make_workspace(org)
    project = await make_project(workspace)
    _, strangers = await org_with_roles()
    stranger = strangers[Role.ADMIN]
    for call in (
        service.create_workspace(
            actor=await principal_for(stranger), organization_id=org.id, name="X"
        ),
        service.get_workspace(actor=await principal_for(stranger), workspace_id=workspace.id),
        service.update_workspace(
            actor=await principal_for(stranger), workspace_id=workspace.id, name="X"
        ),
        service.delete_workspace(actor=await principal_for(stranger), workspace_id=workspace.id),
        service.list_workspaces(actor=await principal_for(stranger), organization_id=org.id),
        service.create_project(
            actor=await principal_for(stranger), workspace_id=workspace.id, name="X"
        ),
        service.get_project(actor=await principal_for(stranger), project_id=project.id),
        service.update_project(
            actor=await principal_for(stranger), project_id=project.id, name="X"
        ),
        service.delete_project(actor=await principal_for(stranger), project_id=project.id),
        service.list_projects(actor=await principal_for(stranger), organization_id=org.id),
        service.list_projects(actor=await principal_for(stranger), workspace_id=workspace.id),
        service.get_workspace(actor=await principal_for(stranger), workspace_id=10**6),
    ):
        with pytest.raises(NotFound):
            await call


async def test_lists_hold_and_count_only_the_actor_organisations(db: str) -> None:
    service = CatalogService()
    org, members = await org_with_roles()
    mine = [await make_workspace(org) for _ in range(3)]
    for workspace in mine:
        await make_project(workspace)
    await make_project(mine[0])
    other = await make_org()
    for _ in range(4):
        await make_project(await make_workspace(other))
    viewer = members[Role.VIEWER]

    workspaces = await service.list_workspaces(actor=await principal_for(viewer))
    assert workspaces.count == 3 and [w.id for w in workspaces.items] == [w.id for w in mine]
    page = await service.list_workspaces(
        actor=await principal_for(viewer), organization_id=org.id, offset=2, limit=2
    )
    assert (page.count, [w.id for w in page.items]) == (3, [mine[2].id])
    projects = await service.list_projects(actor=await principal_for(viewer))
    assert projects.count == 4
    assert {p.workspace_id for p in projects.items} == {w.id for w in mine}
    in_first = await service.list_projects(
        actor=await principal_for(viewer), workspace_id=mine[0].id
    )
    assert in_first.count == 2
    by_org = await service.list_projects(
        actor=await principal_for(viewer), organization_id=org.id, limit=1
    )
    assert (by_org.count, len(by_org.items)) == (4, 1)
    with pytest.raises(NotFound):  # a workspace of this org with another org's id
        await service.list_projects(
            actor=await principal_for(viewer), organization_id=other.id, workspace_id=mine[0].id
        )


async def test_updates_keep_the_slug_and_check_names(db: str) -> None:
    service = CatalogService()
    org, members = await org_with_roles()
    admin = members[Role.ADMIN]
    workspace = await service.create_workspace(
        actor=await principal_for(admin), organization_id=org.id, name="Blog"
    )
    renamed = await service.update_workspace(
        actor=await principal_for(admin),
        workspace_id=workspace.id,
        name="وبلاگ",
        description="همه‌چیز",
    )
    assert (renamed.name, renamed.slug, renamed.description) == ("وبلاگ", "blog", "همه‌چیز")
    project = await service.create_project(
        actor=await principal_for(admin), workspace_id=workspace.id, name="Q1"
    )
    only_description = await service.update_project(
        actor=await principal_for(admin), project_id=project.id, description="new"
    )
    assert (only_description.name, only_description.description) == ("Q1", "new")
    assert only_description.created_by_id == admin.id
    with pytest.raises(InvalidInput, match="too_long"):
        await service.update_project(
            actor=await principal_for(admin), project_id=project.id, name="x" * 201
        )
    with pytest.raises(InvalidInput, match="name_required"):
        await service.create_project(
            actor=await principal_for(admin), workspace_id=workspace.id, name=""
        )
    for bad in ({"name": "a\x00b"}, {"name": "ok", "description": "bell\x07"}):
        with pytest.raises(InvalidInput, match="invalid_characters"):
            await service.create_project(
                actor=await principal_for(admin), workspace_id=workspace.id, **bad
            )
    tabbed = await service.update_project(
        actor=await principal_for(admin), project_id=project.id, description="line one\n\tline two"
    )
    assert tabbed.description == "line one\n\tline two"


async def test_deleting_is_soft_and_a_retired_workspace_hides_its_projects(db: str) -> None:
    service = CatalogService()
    org, members = await org_with_roles()
    admin = members[Role.ADMIN]
    workspace = await make_workspace(org)
    project = await make_project(workspace)
    kept = await make_project(await make_workspace(org))
    await service.delete_workspace(actor=await principal_for(admin), workspace_id=workspace.id)
    assert await Workspace.filter(id=workspace.id, is_active=False).exists()
    assert await Project.filter(id=project.id, is_active=True).exists()
    for call in (
        service.get_workspace(actor=await principal_for(admin), workspace_id=workspace.id),
        service.delete_workspace(actor=await principal_for(admin), workspace_id=workspace.id),
        service.get_project(actor=await principal_for(admin), project_id=project.id),
        service.create_project(
            actor=await principal_for(admin), workspace_id=workspace.id, name="X"
        ),
        service.list_projects(actor=await principal_for(admin), workspace_id=workspace.id),
    ):
        with pytest.raises(NotFound):
            await call
    assert [
        p.id for p in (await service.list_projects(actor=await principal_for(admin))).items
    ] == [kept.id]
    await service.delete_project(actor=await principal_for(admin), project_id=kept.id)
    assert (await service.list_projects(actor=await principal_for(admin))).count == 0
    with pytest.raises(NotFound):
        await service.update_project(
            actor=await principal_for(admin), project_id=kept.id, name="back"
        )


async def test_the_default_catalog_is_created_once_and_revived(db: str) -> None:
    org = await make_org()
    async with in_transaction() as conn:
        first = await ensure_default_catalog(org, connection=conn)
    await Workspace.filter(id=first.workspace.id).update(is_active=False, name="Renamed")
    async with in_transaction() as conn:
        second = await ensure_default_catalog(org, connection=conn)
    assert first.created and not second.created
    assert (second.workspace.id, second.project.id) == (first.workspace.id, first.project.id)
    workspace = await Workspace.get(id=first.workspace.id)
    assert (workspace.is_active, workspace.name, workspace.slug) == (True, "Renamed", DEFAULT_SLUG)
    assert await Workspace.filter(organization_id=org.id).count() == 1
