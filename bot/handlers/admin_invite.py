"""/invite: an admin adds someone by phone number, or makes a single-use invitation link.

Steps: the organisation (when the admin runs several), the role, then "by phone" (the next
message is the number, any Iranian form) or "link" (``https://t.me/<bot>?start=<token>``, from
``InviteService.create``). Redeeming a link is part of ``/start`` (``bot/handlers/link.py``).
Callback data: ``inv:o:<org>``, ``inv:r:<org>:<role>``, ``inv:p:<org>:<role>``,
``inv:l:<org>:<role>``.
"""

from __future__ import annotations

from bot import keyboards
from bot.admin import ROLES, int_arg, role_label, with_organization
from bot.command_menus import refresh_menu
from bot.texts import moment, number
from bot.turn import Turn
from core.services.permissions import Action
from db.models import Role

PHONE = "admin.invite.phone"


async def invite(turn: Turn) -> None:
    await turn.clear_state()
    await with_organization(turn, Action.MANAGE_MEMBERS, "inv", _ask_role)


async def _ask_role(turn: Turn, organization_id: int) -> None:
    rows = [
        [keyboards.button(role_label(turn, r), "inv", "r", organization_id, r.value)] for r in ROLES
    ]
    rows.append([keyboards.button(turn.t("bot.button.cancel"), "cancel")])
    await turn.show(turn.t("bot.admin.invite.choose_role"), keyboards.inline(rows))


async def _ask_method(turn: Turn, organization_id: int, role: Role) -> None:
    rows = [
        [
            keyboards.button(
                turn.t("bot.admin.invite.button.phone"), "inv", "p", organization_id, role.value
            )
        ],
        [
            keyboards.button(
                turn.t("bot.admin.invite.button.link"), "inv", "l", organization_id, role.value
            )
        ],
        [keyboards.button(turn.t("bot.button.cancel"), "cancel")],
    ]
    await turn.show(
        turn.t("bot.admin.invite.choose_method", role=role_label(turn, role)),
        keyboards.inline(rows),
    )


async def on_button(turn: Turn) -> None:
    action = turn.args[0] if turn.args else ""
    organization_id = int_arg(turn, 1)
    role = _role_arg(turn)
    if organization_id is None or (action != "o" and role is None):
        await turn.ack(turn.t("bot.button_expired"), alert=True)
        return
    actor = turn.require_actor()
    if action == "o":
        await _ask_role(turn, organization_id)
    elif action == "r":
        await _ask_method(turn, organization_id, role)
    elif action == "l":
        issued = await turn.services.invites.create(
            actor=actor, organization_id=organization_id, role=role
        )
        link = f"https://t.me/{turn.context.bot.username}?start={issued.token}"
        await turn.show(
            turn.t(
                "bot.admin.invite.link",
                role=role_label(turn, role),
                link=link,
                expires=moment(turn.language, issued.expires_at, turn.services.settings.zone),
            )
        )
    elif action == "p":
        await turn.set_state(PHONE, {"organization_id": organization_id, "role": role.value})
        await turn.show(turn.t("bot.admin.invite.send_phone", role=role_label(turn, role)))
    else:
        await turn.ack(turn.t("bot.button_expired"), alert=True)


async def ask_again(turn: Turn) -> None:
    """The phone's question anew, below whatever interrupted it."""
    role = Role(turn.data["role"])
    await turn.say(turn.t("bot.admin.invite.send_phone", role=role_label(turn, role)))


async def typed_phone(turn: Turn) -> None:
    """The phone of the person to invite; a wrong number keeps the question open."""
    membership = await turn.services.organizations.invite_member(
        actor=turn.require_actor(),
        organization_id=int(turn.data["organization_id"]),
        phone_number=turn.text,
        role=Role(turn.data["role"]),
    )
    await turn.clear_state()
    phone = membership.phone_number
    shown = "0" + phone[3:] if phone.startswith("+98") else phone
    await turn.say(
        turn.t(
            "bot.admin.invite.added",
            phone=number(turn.language, shown),
            role=role_label(turn, membership.role),
        )
    )
    await refresh_menu(turn, membership.user_id)


def _role_arg(turn: Turn) -> Role | None:
    try:
        return Role(turn.args[2])
    except (IndexError, ValueError):
        return None


COMMANDS = {"invite": invite}
CALLBACKS = {"inv": on_button}
TEXT_STATES = {PHONE: typed_phone}
RESUME_STATES = {PHONE: ask_again}
DESCRIPTIONS = {"invite": "bot.command.invite"}
MENU_ROLES = {"invite": Role.ADMIN}
