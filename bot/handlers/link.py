"""Linking: /start shares or types the phone, the SMS code links the account; /logout unlinks.

States: ``link.phone`` (waiting for a number) and ``link.code`` (waiting for the code sent to
``data["phone"]``). A shared contact counts only when it is the sender's own
(``contact.user_id``): anyone can send someone else's contact card.
"""

from __future__ import annotations

from bot import keyboards
from bot.command_menus import refresh_menu
from bot.texts import duration, error_text, number
from bot.turn import Turn
from core.errors import DomainError, InvalidInput, RateLimited
from core.text.normalize import normalize_digits
from core.validators.phone import is_valid_phone
from db.models import Role

PHONE = "link.phone"
CODE = "link.code"
# The invitation token of ``/start <token>``, kept in the state data until the code is verified.
INVITE = "invite"


async def start(turn: Turn) -> None:
    """Linked: the menu. Deactivated: why not. Otherwise: ask for the phone.

    ``/start <token>`` (an invitation link) joins the link's organisation: at once when the
    sender is linked, else after the phone code, the token waiting in the conversation state.
    """
    invite = turn.args[0] if turn.args else None
    if turn.actor is not None:
        await turn.clear_state()
        if invite is not None:
            await _redeem(turn, invite)
            return
        from bot.handlers.home import show_home

        await show_home(turn)
        return
    if turn.refusal is not None:
        raise turn.refusal
    await ask_for_phone(turn, invite=invite)


async def ask_for_phone(turn: Turn, *, invite: str | None = None) -> None:
    await turn.set_state(PHONE, {INVITE: invite} if invite else None)
    await turn.say(turn.t("bot.link.welcome"), keyboards.share_phone(turn.language))


async def _redeem(turn: Turn, token: str) -> None:
    """Join the organisation of the invitation ``token``; a refusal is told, then the menu."""
    from bot.handlers.home import show_home

    try:
        membership = await turn.services.invites.redeem(user=turn.require_actor().user, token=token)
    except DomainError as exc:
        await turn.say(error_text(turn.language, exc))
        await show_home(turn)
        return
    actor = await turn.reload_actor()  # the new membership counts from here on
    await refresh_menu(turn, actor.user)
    joined = turn.t(
        "bot.admin.invite.joined",
        organization=membership.organization.name,
        role=turn.t(f"bot.admin.role.{Role(membership.role).value}"),
    )
    await show_home(turn, intro=joined)


async def shared_contact(turn: Turn) -> None:
    message = turn.update.effective_message
    contact = message.contact if message is not None else None
    if turn.actor is not None:
        await turn.say(turn.t("bot.link.already_linked"), keyboards.remove())
        return
    if contact is None or contact.user_id != turn.sender.id:
        await turn.say(turn.t("bot.link.not_your_contact"), keyboards.share_phone(turn.language))
        return
    await _send_code(turn, contact.phone_number)


async def typed_phone(turn: Turn) -> None:
    await _send_code(turn, turn.text)


async def unlinked_text(turn: Turn) -> None:
    """Text from someone not linked and not asked anything: a phone number, or the welcome."""
    if is_valid_phone(turn.text):
        await _send_code(turn, turn.text)
    else:
        await ask_for_phone(turn, invite=turn.data.get(INVITE))


async def _send_code(turn: Turn, phone: str) -> None:
    sent = await turn.services.telegram.request_code(
        telegram_user_id=turn.sender.id, phone=phone, language=turn.language
    )
    invite = turn.data.get(INVITE)
    await turn.set_state(CODE, {"phone": sent.phone, **({INVITE: invite} if invite else {})})
    await turn.say(
        turn.t(
            "bot.link.code_sent",
            phone=number(turn.language, _shown(sent.phone)),
            minutes=max(1, sent.ttl // 60),
        ),
        keyboards.remove(),
    )


async def typed_code(turn: Turn) -> None:
    phone = turn.data.get("phone")
    if not phone:
        await ask_for_phone(turn, invite=turn.data.get(INVITE))
        return
    code = normalize_digits(turn.text).replace(" ", "")
    try:
        await turn.services.telegram.verify(
            telegram_user_id=turn.sender.id,
            chat_id=turn.chat_id,
            phone=phone,
            code=code,
            language=turn.language,
            username=turn.sender.username,
        )
    except InvalidInput as exc:
        if exc.code != "code_expired":
            raise
        await _offer_new_code(turn, phone, "bot.link.code_expired")
        return
    except RateLimited as exc:
        if exc.code != "too_many_attempts":
            raise
        await _offer_new_code(turn, phone, "bot.link.too_many_attempts")
        return
    invite = turn.data.get(INVITE)
    await turn.clear_state()
    actor = await turn.reload_actor()
    turn.language = str(getattr(actor.user.language, "value", actor.user.language))
    await turn.say(turn.t("bot.link.done"), keyboards.remove())
    if invite:
        await _redeem(turn, invite)
        return
    await refresh_menu(turn, actor.user)
    from bot.handlers.home import show_home

    await show_home(turn)


async def _offer_new_code(turn: Turn, phone: str, key: str) -> None:
    wait = await turn.services.telegram.seconds_until_new_code(phone)
    when = (
        turn.t("bot.link.new_code_now")
        if wait == 0
        else turn.t("bot.link.new_code_after", wait=duration(turn.language, wait))
    )
    await turn.say(
        f"{turn.t(key)}\n{when}",
        keyboards.inline([[keyboards.button(turn.t("bot.link.button.new_code"), "link", "new")]]),
    )


async def on_button(turn: Turn) -> None:
    if turn.args != ["new"] or turn.state != CODE or not turn.data.get("phone"):
        await turn.ack(turn.t("bot.button_expired"), alert=True)
        return
    phone = turn.data["phone"]
    wait = await turn.services.telegram.seconds_until_new_code(phone)
    if wait:
        await turn.ack(
            turn.t("bot.link.new_code_after", wait=duration(turn.language, wait)), alert=True
        )
        return
    await turn.ack()
    await _send_code(turn, phone)


async def logout(turn: Turn) -> None:
    removed = await turn.services.telegram.unlink(turn.sender.id)
    await turn.say(
        turn.t("bot.link.logged_out" if removed else "bot.link.not_linked"), keyboards.remove()
    )


def _shown(phone: str) -> str:
    """``+98912…4567`` as the person knows it: ``0912…4567``."""
    return "0" + phone[3:] if phone.startswith("+98") else phone


COMMANDS = {"start": start, "logout": logout}
CALLBACKS = {"link": on_button}
TEXT_STATES = {PHONE: typed_phone, CODE: typed_code}
CONTACT = shared_contact
DESCRIPTIONS = {"start": "bot.command.start", "logout": "bot.command.logout"}
