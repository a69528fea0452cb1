"""Each update carries the principal of its own moment: a role change counts from the next one."""

from __future__ import annotations

from db.models import Membership, Role, User
from tests.bot.harness import BotHarness


async def test_a_role_change_or_removal_counts_from_the_next_update(harness: BotHarness) -> None:
    writer = await harness.linked_user(Role.WRITER, language="en")
    refused = harness.t("error.permission_denied", "en")
    assert await writer.send("/members") == refused
    await Membership.filter(user_id=writer.user.id).update(role=Role.ADMIN)
    assert await writer.send("/members") == harness.t(
        "bot.admin.members.title", "en", organization=harness.org.name, count=1
    )
    await Membership.filter(user_id=writer.user.id).delete()
    assert await writer.send("/members") == refused
    await User.filter(id=writer.user.id).update(is_active=False)
    assert await writer.send("/members") == harness.t("error.user_inactive", "en")
