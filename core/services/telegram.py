"""Linking a Telegram account to a user by proving the phone number with an SMS code.

One Telegram account links to one user and one user to one Telegram account (both columns of
``telegram_links`` are unique). The code is the sign-in code of ``AuthService``: the same
lifetime, attempts, cooldown, daily cap and rate limits, keyed on the phone and the Telegram
account. Because an invitation creates the invited phone's user with its membership
(``OrganizationService.invite_member``), linking that phone is what makes an invitation take
effect in Telegram: the linked user is the invited one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from tortoise.exceptions import IntegrityError

from core.errors import Conflict, Unauthenticated
from core.security.principal import Principal, load_principal, principal_of
from core.services.auth import AuthService
from core.services.conversations import Conversation, ConversationService
from core.services.outbox import clear_unreachable
from core.validators.phone import PhoneE164, mask_phone
from db import raw
from db.models import BotConversation, Membership, TelegramLink, User

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkCodeSent:
    """A code went to ``phone``: valid ``ttl`` seconds; another may follow in ``resend_after``."""

    phone: PhoneE164
    ttl: int
    resend_after: int


@dataclass(frozen=True)
class UpdateStart:
    """A bot update's starting point: the chat's conversation, the linked actor or why there is
    none to act as (``refusal``; both ``None`` when simply not linked), and whether the account
    had been marked unreachable (the mark is cleared now)."""

    conversation: Conversation
    actor: Principal | None
    refusal: Unauthenticated | None
    reached: bool


class TelegramLinkService:
    """Request and verify link codes, unlink, and find the actor behind a Telegram account."""

    def __init__(self, *, auth: AuthService, conversations: ConversationService) -> None:
        self._auth = auth
        self._conversations = conversations

    async def linked_user(self, telegram_user_id: int) -> User | None:
        """The user linked to this account, active or not (for choosing a language)."""
        link = await TelegramLink.get_or_none(telegram_user_id=telegram_user_id).select_related(
            "user"
        )
        return None if link is None else link.user

    async def actor_for_telegram(self, telegram_user_id: int) -> Principal:
        """The principal of the active user linked to this account; ``Unauthenticated`` otherwise.

        A bot update has no session: the link is the credential, checked on every update.
        """
        client = raw.postgres()
        if client is not None:  # db/raw.py: every bot update asks this
            return _principal_from_rows(await raw.fetch(client, _actor_sql(), telegram_user_id))
        # A member of some active organisation (every writer): one query, the user joined in.
        memberships = await Membership.filter(
            user__telegram_link__telegram_user_id=telegram_user_id,
            organization__is_active=True,
        ).select_related("user")
        if memberships:
            return principal_of(
                memberships[0].user, ((m.organization_id, m.role) for m in memberships)
            )
        link = await TelegramLink.get_or_none(telegram_user_id=telegram_user_id).select_related(
            "user"
        )
        if link is None:
            raise Unauthenticated("telegram_not_linked")
        return await load_principal(link.user)

    async def begin_update(self, chat_id: int, telegram_user_id: int) -> UpdateStart:
        """What a bot update from this account in this chat starts from; their writing also
        clears an "unreachable" mark (``OutboxService.mark_reachable``). On PostgreSQL all of
        it is one statement (db/raw.py): it runs for every update."""
        client = raw.postgres()
        if client is None:
            reached = await clear_unreachable(telegram_user_id)
            conversation = await self._conversations.get(chat_id, telegram_user_id)
            try:
                actor = await self.actor_for_telegram(telegram_user_id)
            except Unauthenticated as exc:
                return UpdateStart(conversation, None, _refusal(exc), reached=reached)
            return UpdateStart(conversation, actor, None, reached=reached)
        rows = await raw.fetch(client, _begin_sql(), chat_id, telegram_user_id)
        first = rows[0]  # one row at least: the conversation's columns, maybe all null
        row = raw.prefixed(BotConversation, first, "c") if first["c_id"] is not None else None
        conversation = self._conversations.snapshot(chat_id, telegram_user_id, row)
        reached = bool(first["reached"])
        try:
            actor = _principal_from_rows([r for r in rows if r["u_id"] is not None])
        except Unauthenticated as exc:
            return UpdateStart(conversation, None, _refusal(exc), reached=reached)
        return UpdateStart(conversation, actor, None, reached=reached)

    async def chat_ids_of(self, user_id: int) -> list[int]:
        """The private chats where this user's linked Telegram account talks to the bot."""
        return list(
            await TelegramLink.filter(user_id=user_id)
            .order_by("id")
            .values_list("chat_id", flat=True)
        )

    async def request_code(
        self, *, telegram_user_id: int, phone: object, language: str
    ) -> LinkCodeSent:
        """Send a code to ``phone`` for linking this account (refused early on a clear conflict)."""
        if await TelegramLink.exists(telegram_user_id=telegram_user_id):
            raise Conflict("telegram_already_linked")
        number = self._auth.parse_phone(phone)
        await _refuse_phone_linked_elsewhere(number, telegram_user_id)
        sent = await self._auth.request_code(
            number, client_address=None, language=language, telegram_user_id=telegram_user_id
        )
        return LinkCodeSent(phone=number, ttl=sent.ttl, resend_after=sent.resend_after)

    async def verify(
        self,
        *,
        telegram_user_id: int,
        chat_id: int,
        phone: object,
        code: object,
        language: str | None = None,
        username: str | None = None,
    ) -> User:
        """Check the code and link the account to the phone's user (created on first use)."""
        if await TelegramLink.exists(telegram_user_id=telegram_user_id):
            raise Conflict("telegram_already_linked")
        number = self._auth.parse_phone(phone)
        await _refuse_phone_linked_elsewhere(number, telegram_user_id)
        user = await self._auth.verify_phone(
            number,
            code,
            client_address=None,
            language=language,
            telegram_user_id=telegram_user_id,
        )
        try:
            await TelegramLink.create(
                user=user,
                telegram_user_id=telegram_user_id,
                chat_id=chat_id,
                username=(username or "")[:64] or None,
            )
        except IntegrityError as exc:  # a concurrent link of either side won
            if await TelegramLink.exists(telegram_user_id=telegram_user_id):
                raise Conflict("telegram_already_linked") from exc
            raise Conflict("phone_linked_elsewhere") from exc
        logger.info("telegram account linked to user %s (%s)", user.id, mask_phone(number))
        return user

    async def seconds_until_new_code(self, phone: object) -> int:
        """The wait before another link code may be sent to ``phone``."""
        return await self._auth.seconds_until_new_code(phone)

    async def unlink(self, telegram_user_id: int) -> bool:
        """Remove this account's link and its conversation state; whether there was a link."""
        removed = await TelegramLink.filter(telegram_user_id=telegram_user_id).delete()
        await self._conversations.forget_user(telegram_user_id)
        if removed:
            logger.info("telegram account unlinked")
        return bool(removed)


async def _refuse_phone_linked_elsewhere(phone: PhoneE164, telegram_user_id: int) -> None:
    other = await TelegramLink.filter(user__phone_number=phone).exclude(
        telegram_user_id=telegram_user_id
    )
    if other:
        raise Conflict("phone_linked_elsewhere")


# -- the actor on PostgreSQL (db/raw.py) -------------------------------------------------------


@cache
def _actor_sql() -> str:
    """The linked user with each (organisation, role) of their active organisations: one row
    per membership, or one row with no organisation for a user who has none."""
    # Only the model's own column names are formatted in; the Telegram id is a parameter.
    columns = raw.columns(User, "u")
    return (
        f"SELECT {columns}, m.organization_id AS m_organization, m.role AS m_role"  # noqa: S608
        " FROM telegram_links l JOIN users u ON u.id = l.user_id"
        " LEFT JOIN (memberships m JOIN organizations o"
        " ON o.id = m.organization_id AND o.is_active) ON m.user_id = u.id"
        " WHERE l.telegram_user_id = $1"
    )


def _principal_from_rows(rows: list[Any]) -> Principal:
    if not rows:
        raise Unauthenticated("telegram_not_linked")
    user = raw.prefixed(User, rows[0], "u")
    roles = [(r["m_organization"], r["m_role"]) for r in rows if r["m_organization"] is not None]
    return principal_of(user, roles)


def _refusal(exc: Unauthenticated) -> Unauthenticated | None:
    """Why a linked account has no actor (``None``: it is simply not linked)."""
    return None if exc.code == "telegram_not_linked" else exc


@cache
def _begin_sql() -> str:
    """For chat ``$1`` and account ``$2``: the reachability mark cleared, the conversation's
    columns (``c_…``) and the actor's rows of :func:`_actor_sql` (none when not linked)."""
    actor = _actor_sql().replace("$1", "$2")
    conversation = raw.columns(BotConversation, "c")
    return (
        "WITH reached AS (UPDATE telegram_links SET unreachable_since = NULL"  # noqa: S608
        " WHERE telegram_user_id = $2 AND unreachable_since IS NOT NULL RETURNING 1),"
        f" actor AS ({actor})"
        f" SELECT (SELECT count(*) FROM reached) AS reached, {conversation}, actor.*"
        " FROM (SELECT 1) AS one"
        " LEFT JOIN bot_conversations c ON c.chat_id = $1 AND c.telegram_user_id = $2"
        " LEFT JOIN actor ON true"
    )
