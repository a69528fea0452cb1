"""How many SQL statements one update costs: counted, not timed (speed is ``bench/bot.py``).

The writer's hot path (/new, "continue in X / Y", each answer, Cancel) pins its statements per
update, so a change that adds a round trip to every press shows up here. The outbox worker
sleeps for the whole test, so only the handling is counted.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from core.settings import Settings
from db.models import Prompt, Role
from tests.bot.harness import BotHarness, Person
from tests.fakes.bot_api import FakeBotApi
from tests.support.queries import recording_queries

VARIABLES = [
    {"name": "topic", "label": "موضوع", "type": "text", "required": True, "max_length": 200},
    {"name": "words", "label": "طول", "type": "number", "min_value": 50, "max_value": 2000},
    {"name": "tone", "label": "لحن", "type": "choice", "choices": ["رسمی", "صمیمی"]},
]


@pytest.fixture
def bot_settings(settings: Settings, bot_api: FakeBotApi) -> Settings:
    return settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(bot_api.token),
            "telegram_api_base_url": bot_api.url,
            "outbox_poll_seconds": 3600.0,
        }
    )


async def _counted(action) -> list[str]:  # type: ignore[no-untyped-def]
    with recording_queries() as log:
        await action
    return log.statements


@pytest.mark.postgres  # the pins are PostgreSQL's hand-written statements (db/raw.py)
async def test_statements_per_update_of_the_writers_path(harness: BotHarness) -> None:
    person: Person = await harness.linked_user()
    org = await harness.default_org()
    assert harness.project is not None
    prompt = await Prompt.create(
        organization=org, title="پست", template="{topic} {words} {tone}", variables=VARIABLES
    )
    go = f"new:go:{harness.project.id}:{prompt.id}"
    # the first round walks the pickers; the second starts from "continue in X / Y"
    await person.send("/new")
    await person.press_data(go, forged=True)
    await person.press_data("cancel", forged=True)

    counted = {
        "/new": await _counted(person.send("/new")),
        "continue": await _counted(person.press_data(go)),
        "text answer": await _counted(person.send("قهوه")),
        "number answer": await _counted(person.send("۳۰۰")),
        "choice answer": await _counted(person.send("رسمی")),
        "cancel": await _counted(person.press_data("cancel")),
    }

    assert harness.t("bot.cancelled") in person.texts
    # Every update: one statement clears the reachability mark and reads the conversation and
    # the actor (core.services.telegram.begin_update). Then /new: the last choice with its
    # re-check (1); continue: the re-check (1), the last choice and the state, one conditional
    # UPDATE each (2); an answer: the re-check (1) and the state (1); Cancel: the state (1).
    assert {name: len(statements) for name, statements in counted.items()} == {
        "/new": 2,
        "continue": 4,
        "text answer": 3,
        "number answer": 3,
        "choice answer": 3,
        "cancel": 2,
    }, counted


async def test_a_state_write_is_one_statement_without_a_transaction(harness: BotHarness) -> None:
    person = await harness.linked_user()
    await person.send("/new")
    services = harness.services
    assert services is not None
    await services.conversations.set(person.chat_id, person.id, "x", {"a": 1})
    with recording_queries() as log:
        await services.conversations.set(person.chat_id, person.id, "y", {"b": 2})
    assert len(log.statements) == 1 and log.statements[0].startswith("UPDATE")
    state = await services.conversations.get(person.chat_id, person.id)
    assert (state.state, state.data) == ("y", {"b": 2})


async def test_the_actor_of_a_member_is_one_statement(harness: BotHarness) -> None:
    person = await harness.linked_user(Role.EDITOR)
    services = harness.services
    assert services is not None and person.org is not None and person.user is not None
    with recording_queries() as log:
        actor = await services.telegram.actor_for_telegram(person.id)
    assert log.count == 1
    assert (actor.user_id, dict(actor.roles)) == (person.user.id, {person.org.id: Role.EDITOR})
