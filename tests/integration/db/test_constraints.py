"""The database itself rejects what the invariants forbid, whatever a service forgets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tortoise.exceptions import IntegrityError

from db.models import (
    Content,
    ContentVersion,
    JobRun,
    Membership,
    Organization,
    Project,
    Role,
    TelegramLink,
    User,
    VersionSource,
    Workspace,
)

pytestmark = pytest.mark.sqlite

NOW = datetime(2026, 11, 30, tzinfo=UTC)


async def _org_with_content() -> tuple[Organization, Content]:
    org = await Organization.create(name="Org", slug="org")
    workspace = await Workspace.create(organization=org, name="W", slug="w")
    project = await Project.create(workspace=workspace, name="P", slug="p")
    content = await Content.create(
        organization=org, workspace=workspace, project=project, title="T"
    )
    return org, content


async def test_duplicate_membership_is_rejected(db: str) -> None:
    user = await User.create(phone_number="+989121234567")
    org = await Organization.create(name="Org", slug="org")
    await Membership.create(user=user, organization=org, role=Role.WRITER)
    with pytest.raises(IntegrityError):
        await Membership.create(user=user, organization=org, role=Role.ADMIN)


async def test_duplicate_version_number_is_rejected(db: str) -> None:
    _, content = await _org_with_content()
    await ContentVersion.create(
        content=content, number=1, title="T", body="a", source=VersionSource.EDIT
    )
    with pytest.raises(IntegrityError):
        await ContentVersion.create(
            content=content, number=1, title="T", body="b", source=VersionSource.EDIT
        )


async def test_telegram_account_links_to_one_user_only(db: str) -> None:
    first = await User.create(phone_number="+989121234567")
    second = await User.create(phone_number="+989121234568")
    await TelegramLink.create(user=first, telegram_user_id=42, chat_id=42)
    with pytest.raises(IntegrityError):
        await TelegramLink.create(user=second, telegram_user_id=42, chat_id=42)


async def test_user_links_one_telegram_account_only(db: str) -> None:
    user = await User.create(phone_number="+989121234567")
    await TelegramLink.create(user=user, telegram_user_id=42, chat_id=42)
    with pytest.raises(IntegrityError):
        await TelegramLink.create(user=user, telegram_user_id=43, chat_id=43)


async def test_duplicate_job_run_key_is_rejected(db: str) -> None:
    await JobRun.create(job_name="reset_daily", period_key="2026-11-30", started_at=NOW)
    await JobRun.create(job_name="reset_daily", period_key="2026-12-01", started_at=NOW)
    with pytest.raises(IntegrityError):
        await JobRun.create(job_name="reset_daily", period_key="2026-11-30", started_at=NOW)


async def test_duplicate_phone_and_slugs_are_rejected(db: str) -> None:
    await User.create(phone_number="+989121234567")
    with pytest.raises(IntegrityError):
        await User.create(phone_number="+989121234567")
    org = await Organization.create(name="Org", slug="org")
    with pytest.raises(IntegrityError):
        await Organization.create(name="Other", slug="org")
    await Workspace.create(organization=org, name="W", slug="w")
    with pytest.raises(IntegrityError):
        await Workspace.create(organization=org, name="W2", slug="w")
