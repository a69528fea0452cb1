"""The role matrix of docs/architecture.md §1 and the tenant check every service starts with.

A caller who is not a member of an organisation gets ``NotFound`` for anything in it, exactly
as for an id that does not exist; a member whose role is too low gets ``PermissionDenied``.
Services call :func:`authorize` with the actor passed in explicitly, so the bot and the REST
API cannot disagree. The actor is a :class:`~core.security.principal.Principal`: its roles were
read once when the request or update was authenticated, so these checks query nothing.
"""

from __future__ import annotations

from enum import StrEnum

from core.errors import NotFound, PermissionDenied
from core.security.principal import Principal
from db.models import Role

ROLE_RANK = {Role.VIEWER: 0, Role.WRITER: 1, Role.EDITOR: 2, Role.ADMIN: 3}


class Action(StrEnum):
    """What a member may ask to do, each with the least role that may do it."""

    READ_ORGANIZATION = "read_organization"
    MANAGE_ORGANIZATION = "manage_organization"
    MANAGE_MEMBERS = "manage_members"
    MANAGE_WORKSPACES = "manage_workspaces"
    MANAGE_PROJECTS = "manage_projects"
    READ_CATALOG = "read_catalog"  # workspaces, projects, prompts
    MANAGE_PROMPTS = "manage_prompts"
    CREATE_CONTENT = "create_content"
    GENERATE = "generate"
    EDIT_ANY_CONTENT = "edit_any_content"
    READ_ANY_CONTENT = "read_any_content"
    DECIDE_CONTENT = "decide_content"
    READ_AUDIT = "read_audit"
    READ_ORGANIZATION_USAGE = "read_organization_usage"
    MANAGE_LIMITS = "manage_limits"


MINIMUM_ROLE: dict[Action, Role] = {
    Action.READ_ORGANIZATION: Role.VIEWER,
    Action.READ_CATALOG: Role.VIEWER,
    Action.CREATE_CONTENT: Role.WRITER,
    Action.GENERATE: Role.WRITER,
    Action.MANAGE_PROMPTS: Role.EDITOR,
    Action.EDIT_ANY_CONTENT: Role.EDITOR,
    Action.READ_ANY_CONTENT: Role.EDITOR,
    Action.DECIDE_CONTENT: Role.EDITOR,
    Action.READ_AUDIT: Role.EDITOR,
    Action.READ_ORGANIZATION_USAGE: Role.EDITOR,
    Action.MANAGE_ORGANIZATION: Role.ADMIN,
    Action.MANAGE_MEMBERS: Role.ADMIN,
    Action.MANAGE_WORKSPACES: Role.ADMIN,
    Action.MANAGE_PROJECTS: Role.ADMIN,
    Action.MANAGE_LIMITS: Role.ADMIN,
}


def may(role: Role, action: Action) -> bool:
    """Whether ``role`` is enough for ``action``."""
    return ROLE_RANK[role] >= ROLE_RANK[MINIMUM_ROLE[action]]


def role_of(actor: Principal, organization_id: int) -> Role:
    """The actor's role in an active organisation, or ``NotFound`` (never reveal it)."""
    role = actor.role_in(organization_id)
    if role is None:
        raise NotFound()
    return role


def authorize(actor: Principal, organization_id: int, action: Action) -> Role:
    """The actor's role if it allows ``action``; NotFound or PermissionDenied."""
    role = role_of(actor, organization_id)
    if not may(role, action):
        raise PermissionDenied(action=action.value)
    return role


def organization_ids_of(actor: Principal) -> list[int]:
    """Ids of the active organisations the actor belongs to (for tenant-scoped lists)."""
    return actor.organization_ids
