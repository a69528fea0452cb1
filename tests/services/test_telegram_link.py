"""The Telegram link service, conversation state and the language preference, in core."""

from __future__ import annotations

import asyncio

import pytest

from core.container import Services
from core.errors import Conflict, InvalidInput, RateLimited, Unauthenticated
from db.models import Language, TelegramLink
from tests.support.factories import make_user, principal_for
from tests.support.sms import last_code

PHONE = "+989121234567"
TG = 90_001


async def _link(services: Services, telegram_id: int = TG, phone: str = PHONE):
    await services.telegram.request_code(telegram_user_id=telegram_id, phone=phone, language="fa")
    code = last_code(services.settings, phone)
    return await services.telegram.verify(
        telegram_user_id=telegram_id, chat_id=telegram_id, phone=phone, code=code
    )


async def test_link_creates_the_user_and_finds_the_actor(services: Services) -> None:
    user = await _link(services)
    assert user.phone_number == PHONE
    assert (await services.telegram.actor_for_telegram(TG)).user_id == user.id
    with pytest.raises(Unauthenticated) as refused:
        await services.telegram.actor_for_telegram(TG + 1)
    assert refused.value.code == "telegram_not_linked"


async def test_chat_ids_of_a_user(services: Services) -> None:
    user = await _link(services)
    assert await services.telegram.chat_ids_of(user.id) == [TG]
    assert await services.telegram.chat_ids_of((await make_user()).id) == []
    await services.telegram.unlink(TG)
    assert await services.telegram.chat_ids_of(user.id) == []


async def test_inactive_user_is_refused_as_actor(services: Services) -> None:
    user = await _link(services)
    user.is_active = False
    await user.save()
    with pytest.raises(Unauthenticated) as refused:
        await services.telegram.actor_for_telegram(TG)
    assert refused.value.code == "user_inactive"


async def test_one_account_one_user_both_ways(services: Services) -> None:
    await _link(services)
    with pytest.raises(Conflict) as second_phone:
        await services.telegram.request_code(
            telegram_user_id=TG, phone="+989121111111", language="fa"
        )
    assert second_phone.value.code == "telegram_already_linked"
    with pytest.raises(Conflict) as second_account:
        await services.telegram.request_code(telegram_user_id=TG + 1, phone=PHONE, language="fa")
    assert second_account.value.code == "phone_linked_elsewhere"
    assert await TelegramLink.all().count() == 1


async def test_two_accounts_racing_for_one_phone_link_once(services: Services) -> None:
    await services.telegram.request_code(telegram_user_id=TG, phone=PHONE, language="fa")
    code = last_code(services.settings, PHONE)
    results = await asyncio.gather(
        *(
            services.telegram.verify(telegram_user_id=tg, chat_id=tg, phone=PHONE, code=code)
            for tg in (TG, TG + 1)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(result, Exception) for result in results) == 1
    assert await TelegramLink.all().count() == 1


async def test_code_rules_are_the_sign_in_rules(services: Services) -> None:
    await services.telegram.request_code(telegram_user_id=TG, phone=PHONE, language="fa")
    with pytest.raises(RateLimited) as cooldown:
        await services.telegram.request_code(telegram_user_id=TG, phone=PHONE, language="fa")
    assert cooldown.value.code == "otp_cooldown"
    assert await services.telegram.seconds_until_new_code(PHONE) == 60
    services.clock.advance(seconds=301)
    with pytest.raises(InvalidInput) as expired:
        await services.telegram.verify(
            telegram_user_id=TG, chat_id=TG, phone=PHONE, code=last_code(services.settings, PHONE)
        )
    assert expired.value.code == "code_expired"
    assert await services.telegram.seconds_until_new_code(PHONE) == 0


async def test_unlink_forgets_the_link_and_the_state(services: Services) -> None:
    await _link(services)
    await services.conversations.set(TG, TG, "drafts.title", {"id": 1})
    assert await services.telegram.unlink(TG) is True
    assert await services.telegram.unlink(TG) is False
    assert (await services.conversations.get(TG, TG)).state is None


async def test_language_preference(services: Services) -> None:
    user = await make_user()
    await services.preferences.set_language(actor=await principal_for(user), language="en")
    await user.refresh_from_db()
    assert user.language == Language.EN
    with pytest.raises(InvalidInput):
        await services.preferences.set_language(actor=await principal_for(user), language="de")


async def test_one_telegram_account_cannot_use_up_a_phone_cap(services: Services) -> None:
    for _ in range(3):  # OTP_DAILY_CAP_PER_REQUESTER
        await services.telegram.request_code(telegram_user_id=TG, phone=PHONE, language="fa")
        services.clock.advance(seconds=61)
    with pytest.raises(RateLimited) as capped:
        await services.telegram.request_code(telegram_user_id=TG, phone=PHONE, language="fa")
    assert capped.value.code == "otp_requester_daily_cap"
    await services.telegram.request_code(telegram_user_id=TG + 1, phone=PHONE, language="fa")


async def test_a_number_outside_phone_regions_is_refused(services: Services) -> None:
    with pytest.raises(InvalidInput) as refused:
        await services.telegram.request_code(
            telegram_user_id=TG, phone="+1 201 555 0123", language="fa"
        )
    assert refused.value.code == "phone_region_not_accepted"
