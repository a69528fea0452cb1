"""What the admin commands share: which organisation a command is about, and role labels.

A command offers only the organisations where the actor's role allows it (a convenience: the
service called next checks the role and the organisation again, with the actor, in ``core``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot import keyboards
from bot.turn import Turn
from core.errors import PermissionDenied
from core.services.auth import MembershipSummary
from core.services.permissions import Action, may
from db.models import Role

# The order the role buttons appear in.
ROLES = (Role.ADMIN, Role.EDITOR, Role.WRITER, Role.VIEWER)


def role_label(turn: Turn, role: Role | str) -> str:
    return turn.t(f"bot.admin.role.{Role(role).value}")


async def organizations_for(turn: Turn, action: Action) -> list[MembershipSummary]:
    """The actor's organisations where their role allows ``action``; refused when none does."""
    profile = await turn.services.auth.me(turn.require_actor())
    allowed = [m for m in profile.memberships if may(m.role, action)]
    if not allowed:
        raise PermissionDenied(action=action.value)
    return allowed


async def with_organization(
    turn: Turn, action: Action, prefix: str, then: Callable[[Turn, int], Awaitable[None]]
) -> None:
    """Run ``then`` for the one organisation, or let the actor pick (``<prefix>:o:<id>``)."""
    organizations = await organizations_for(turn, action)
    if len(organizations) == 1:
        await then(turn, organizations[0].organization_id)
        return
    rows = [
        [keyboards.button(m.organization_name, prefix, "o", m.organization_id)]
        for m in organizations
    ]
    rows.append([keyboards.button(turn.t("bot.button.cancel"), "cancel")])
    await turn.show(turn.t("bot.admin.choose_organization"), keyboards.inline(rows))


def int_arg(turn: Turn, index: int) -> int | None:
    """``turn.args[index]`` as an id, or ``None`` when missing or not a number."""
    try:
        return int(turn.args[index])
    except (IndexError, ValueError):
        return None
