"""/members: the organisation's members with their roles; change a role, or remove someone.

Callback data: ``mem:o:<org>`` (organisation picked), ``mem:l:<org>:<page>`` (a page),
``mem:m:<org>:<user>`` (one member), ``mem:r:<org>:<user>:<role>`` (give that role),
``mem:d:<org>:<user>`` (ask to remove), ``mem:dy:<org>:<user>`` (remove). Each one calls
``OrganizationService`` with the presser as the actor; the last-admin rule's refusal is told
as a message. The phone shown is what ``core`` returns for the member.
"""

from __future__ import annotations

from bot import keyboards
from bot.admin import ROLES, int_arg, role_label, with_organization
from bot.command_menus import refresh_menu
from bot.texts import error_text, number
from bot.turn import Turn
from core.errors import Conflict
from core.services.orgs import MemberView
from core.services.permissions import Action
from db.models import Role


async def members(turn: Turn) -> None:
    await turn.clear_state()
    await with_organization(turn, Action.MANAGE_MEMBERS, "mem", _list_first)


async def _list_first(turn: Turn, organization_id: int) -> None:
    await _list(turn, organization_id, 0)


async def _list(turn: Turn, organization_id: int, requested: int, intro: str | None = None) -> None:
    services, actor = turn.services, turn.require_actor()
    organization = await services.organizations.get_organization(
        actor=actor, organization_id=organization_id
    )
    first = await services.organizations.list_members(
        actor=actor, organization_id=organization_id, limit=1
    )
    page = keyboards.Page.of(requested, first.count)
    listing = await services.organizations.list_members(
        actor=actor, organization_id=organization_id, offset=page.offset, limit=page.limit
    )
    items = [
        (
            f"{_who(turn, m)} · {role_label(turn, m.role)}",
            keyboards.data("mem", "m", organization_id, m.user_id),
        )
        for m in listing.items
    ]
    text = turn.t("bot.admin.members.title", organization=organization.name, count=listing.count)
    markup = keyboards.paged(turn.language, items, page, page_data=("mem", "l", organization_id))
    await turn.show(f"{intro}\n\n{text}" if intro else text, markup)


async def _member(turn: Turn, organization_id: int, user_id: int, intro: str | None = None) -> None:
    membership = await turn.services.organizations.get_member(
        actor=turn.require_actor(), organization_id=organization_id, user_id=user_id
    )
    role = Role(membership.role)
    rows = [
        [
            keyboards.button(
                turn.t("bot.admin.members.button.make", role=role_label(turn, r)),
                "mem",
                "r",
                organization_id,
                user_id,
                r.value,
            )
        ]
        for r in ROLES
        if r is not role
    ]
    rows.append(
        [
            keyboards.button(
                turn.t("bot.admin.members.button.remove"), "mem", "d", organization_id, user_id
            )
        ]
    )
    rows.append([keyboards.button(turn.t("bot.button.back"), "mem", "l", organization_id, 0)])
    text = turn.t(
        "bot.admin.members.member",
        name=_who(turn, membership),
        phone=_phone(turn, membership),
        role=role_label(turn, role),
    )
    await turn.show(f"{intro}\n\n{text}" if intro else text, keyboards.inline(rows))


async def on_button(turn: Turn) -> None:
    action = turn.args[0] if turn.args else ""
    organization_id, user_id = int_arg(turn, 1), int_arg(turn, 2)
    if organization_id is None or (action not in ("o", "l") and user_id is None):
        await turn.ack(turn.t("bot.button_expired"), alert=True)
        return
    services, actor = turn.services, turn.require_actor()
    if action == "o":
        await _list(turn, organization_id, 0)
    elif action == "l":
        await _list(turn, organization_id, user_id or 0)
    elif action == "m":
        await _member(turn, organization_id, user_id)
    elif action == "r" and len(turn.args) == 4 and turn.args[3] in Role._value2member_map_:
        try:
            membership = await services.organizations.change_role(
                actor=actor,
                organization_id=organization_id,
                user_id=user_id,
                role=Role(turn.args[3]),
            )
        except Conflict as exc:
            await turn.say(error_text(turn.language, exc))
            return
        await refresh_menu(turn, membership.user_id)
        intro = turn.t("bot.admin.members.role_changed", role=role_label(turn, membership.role))
        await _member(turn, organization_id, user_id, intro)
    elif action == "d":
        membership = await services.organizations.get_member(
            actor=actor, organization_id=organization_id, user_id=user_id
        )
        rows = [
            [
                keyboards.button(
                    turn.t("bot.admin.members.button.remove_yes"),
                    "mem",
                    "dy",
                    organization_id,
                    user_id,
                )
            ],
            [keyboards.button(turn.t("bot.button.back"), "mem", "m", organization_id, user_id)],
        ]
        await turn.show(
            turn.t("bot.admin.members.remove_confirm", name=_who(turn, membership)),
            keyboards.inline(rows),
        )
    elif action == "dy":
        membership = await services.organizations.get_member(
            actor=actor, organization_id=organization_id, user_id=user_id
        )
        try:
            await services.organizations.remove_member(
                actor=actor, organization_id=organization_id, user_id=user_id
            )
        except Conflict as exc:
            await turn.say(error_text(turn.language, exc))
            return
        await refresh_menu(turn, membership.user_id)
        intro = turn.t("bot.admin.members.removed", name=_who(turn, membership))
        await _list(turn, organization_id, 0, intro)
    else:
        await turn.ack(turn.t("bot.button_expired"), alert=True)


def _phone(turn: Turn, membership: MemberView) -> str:
    phone = membership.phone_number or ""
    shown = "0" + phone[3:] if phone.startswith("+98") else phone
    return number(turn.language, shown)


def _who(turn: Turn, membership: MemberView) -> str:
    return membership.full_name or _phone(turn, membership)


COMMANDS = {"members": members}
CALLBACKS = {"mem": on_button}
DESCRIPTIONS = {"members": "bot.command.members"}
MENU_ROLES = {"members": Role.ADMIN}
