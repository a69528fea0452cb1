"""Factories for test data: each test builds exactly what it needs."""

from __future__ import annotations

import itertools

from core.security.principal import Principal, load_principal
from db.models import (
    Content,
    ContentStatus,
    Membership,
    Organization,
    Project,
    Role,
    User,
    Workspace,
)

_numbers = itertools.count(1)


def next_phone() -> str:
    """A fresh valid Iranian mobile number in E.164."""
    return f"+98912{next(_numbers):07d}"


async def make_user(*, phone: str | None = None, active: bool = True, **fields) -> User:
    return await User.create(phone_number=phone or next_phone(), is_active=active, **fields)


async def make_org(*, name: str | None = None) -> Organization:
    n = next(_numbers)
    return await Organization.create(name=name or f"Org {n}", slug=f"org-{n}")


async def add_member(org: Organization, role: Role, user: User | None = None) -> User:
    user = user or await make_user()
    await Membership.create(user=user, organization=org, role=role)
    return user


async def make_workspace(org: Organization, *, name: str | None = None) -> Workspace:
    n = next(_numbers)
    return await Workspace.create(organization=org, name=name or f"WS {n}", slug=f"ws-{n}")


async def make_project(workspace: Workspace, *, name: str | None = None) -> Project:
    n = next(_numbers)
    return await Project.create(workspace=workspace, name=name or f"P {n}", slug=f"p-{n}")


async def make_content(
    project: Project,
    author: User,
    *,
    title: str = "Title",
    body: str = "",
    status: ContentStatus = ContentStatus.DRAFT,
) -> Content:
    workspace = await project.workspace
    return await Content.create(
        organization_id=workspace.organization_id,
        workspace=workspace,
        project=project,
        title=title,
        body=body,
        status=status,
        created_by=author,
    )


async def org_with_roles() -> tuple[Organization, dict[Role, User]]:
    """An organisation with one member of each role."""
    org = await make_org()
    return org, {role: await add_member(org, role) for role in Role}


async def principal_for(user: User | Principal) -> Principal:
    """The principal a request or update of ``user`` would carry now (read afresh, as there)."""
    if isinstance(user, Principal):
        return user
    return await load_principal(user.id)
