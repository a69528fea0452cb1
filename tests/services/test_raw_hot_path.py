"""The bot's hot path as raw SQL (``db/raw.py``) answers exactly what its ORM path answers.

Each case runs the service twice on the same rows: once as it runs on PostgreSQL (raw SQL) and
once with the fast path switched off (the ORM query SQLite uses), and compares every field of
what comes back, or the error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from tortoise.models import Model

from core.errors import DomainError
from core.security.principal import Principal
from core.services.compose import Choice, ComposeService
from core.services.conversations import Conversation, ConversationService
from core.services.outbox import OutboxService
from core.services.telegram import TelegramLinkService
from db import raw
from db.models import (
    BotConversation,
    ComposeChoice,
    Membership,
    Prompt,
    Role,
    TelegramLink,
    User,
)
from tests.support.factories import (
    add_member,
    make_org,
    make_project,
    make_user,
    make_workspace,
    principal_for,
)

pytestmark = pytest.mark.postgres

TELEGRAM_ID = 770_001


def _fields(instance: Model | None) -> dict[str, Any] | None:
    if instance is None:
        return None
    return {name: getattr(instance, name) for name in type(instance)._meta.fields_db_projection}


def _shown(result: object) -> object:
    """Everything a caller could read of a result, as plain values."""
    if isinstance(result, Principal):
        return (_fields(result.user), dict(result.roles), result.session_id)
    if isinstance(result, Choice):
        return (
            _fields(result.organization),
            _fields(result.workspace),
            _fields(result.project),
            _fields(result.prompt),
            # what select_related leaves on the project and its workspace
            _fields(result.project.workspace),
            _fields(result.workspace.organization),
        )
    if isinstance(result, Conversation):
        return (result.state, result.data, result.language)
    return result


async def _both(
    monkeypatch: pytest.MonkeyPatch, call: Callable[[], Awaitable[object]]
) -> tuple[object, object]:
    """``call``'s outcome through raw SQL, then through the ORM."""

    async def outcome() -> object:
        try:
            return _shown(await call())
        except DomainError as exc:
            return (type(exc).__name__, exc.code)

    assert raw.postgres() is not None, "the fast path runs on PostgreSQL only"
    fast = await outcome()
    with monkeypatch.context() as patched:
        patched.setattr(raw, "postgres", lambda: None)
        slow = await outcome()
    return fast, slow


# -- the actor ----------------------------------------------------------------------------------


async def _link(user: User, telegram_id: int = TELEGRAM_ID) -> None:
    await TelegramLink.create(user=user, telegram_user_id=telegram_id, chat_id=telegram_id)


async def test_the_actor_of_members_and_non_members(db: str, monkeypatch) -> None:
    active, retired, other = await make_org(), await make_org(), await make_org()
    retired.is_active = False
    await retired.save()
    writer = await add_member(active, Role.WRITER)
    await add_member(retired, Role.ADMIN, writer)
    await add_member(other, Role.EDITOR, writer)
    await _link(writer)
    loner = await make_user(full_name="تنها")
    await _link(loner, TELEGRAM_ID + 1)
    gone = await add_member(active, Role.EDITOR)
    await User.filter(id=gone.id).update(is_active=False)
    await _link(gone, TELEGRAM_ID + 2)
    service = TelegramLinkService(auth=None, conversations=None)  # type: ignore[arg-type]

    cases = {}
    for telegram_id in (TELEGRAM_ID, TELEGRAM_ID + 1, TELEGRAM_ID + 2, TELEGRAM_ID + 3):
        fast, slow = await _both(monkeypatch, lambda i=telegram_id: service.actor_for_telegram(i))
        assert fast == slow, telegram_id
        cases[telegram_id] = fast
    assert cases[TELEGRAM_ID][1] == {active.id: Role.WRITER, other.id: Role.EDITOR}
    assert cases[TELEGRAM_ID + 1][1] == {}
    assert cases[TELEGRAM_ID + 2] == ("Unauthenticated", "user_inactive")
    assert cases[TELEGRAM_ID + 3] == ("Unauthenticated", "telegram_not_linked")


async def test_the_reachability_mark(db: str, monkeypatch, services) -> None:
    outbox: OutboxService = services.outbox
    user = await make_user()
    await _link(user)
    for marked in (True, False):
        await TelegramLink.filter(telegram_user_id=TELEGRAM_ID).update(
            unreachable_since=services.clock.now() if marked else None
        )
        assert await outbox.mark_reachable(TELEGRAM_ID) is marked
        link = await TelegramLink.get(telegram_user_id=TELEGRAM_ID)
        assert link.unreachable_since is None
        await TelegramLink.filter(telegram_user_id=TELEGRAM_ID).update(
            unreachable_since=services.clock.now() if marked else None
        )
        with monkeypatch.context() as patched:
            patched.setattr(raw, "postgres", lambda: None)
            assert await outbox.mark_reachable(TELEGRAM_ID) is marked


# -- the conversation -----------------------------------------------------------------------


async def test_conversation_reads_and_writes(db: str, monkeypatch, clock) -> None:
    service = ConversationService(clock=clock, ttl=timedelta(minutes=5))
    chat, user = 42, TELEGRAM_ID

    async def read() -> Conversation:
        return await service.get(chat, user)

    fast, slow = await _both(monkeypatch, read)
    assert fast == slow == (None, {}, None)  # no row yet
    await service.set_language(chat, user, "en")
    await service.set(chat, user, "compose.vars", {"answers": {"موضوع": "قهوه"}, "index": 1})
    fast, slow = await _both(monkeypatch, read)
    assert fast == slow == ("compose.vars", {"answers": {"موضوع": "قهوه"}, "index": 1}, "en")
    clock.advance(minutes=6)
    fast, slow = await _both(monkeypatch, read)
    assert fast == slow == (None, {}, "en")  # expired: only the language stays

    # Writes: each path writes, the other reads the same row back.
    for fast_path in (True, False):
        with monkeypatch.context() as patched:
            if not fast_path:
                patched.setattr(raw, "postgres", lambda: None)
            await service.set(chat, user, f"s{fast_path}", {"n": [1, "۲"]})
        row = await BotConversation.get(chat_id=chat, telegram_user_id=user)
        assert (row.state, row.data, row.language) == (f"s{fast_path}", {"n": [1, "۲"]}, "en")
        assert row.expires_at == clock.now() + timedelta(minutes=5)
        with monkeypatch.context() as patched:
            if not fast_path:
                patched.setattr(raw, "postgres", lambda: None)
            await service.clear(chat, user)
        row = await BotConversation.get(chat_id=chat, telegram_user_id=user)
        assert (row.state, row.data, row.expires_at, row.language) == ("", {}, None, "en")


# -- the chosen project and prompt --------------------------------------------------------------


async def _prompt(org, *, workspace=None, active: bool = True) -> Prompt:
    return await Prompt.create(
        organization=org,
        workspace=workspace,
        title="پست",
        template="{x}",
        is_active=active,
        variables=[{"name": "x", "label": {"fa": "ایکس", "en": "x"}, "type": "text"}],
    )


async def test_the_re_check_of_every_kind_of_choice(db: str, monkeypatch) -> None:
    mine, theirs = await make_org(), await make_org()
    writer = await add_member(mine, Role.WRITER)
    viewer = await add_member(mine, Role.VIEWER)
    workspace, other_workspace = await make_workspace(mine), await make_workspace(mine)
    retired_workspace = await make_workspace(mine)
    project, their_project = (
        await make_project(workspace),
        await make_project(await make_workspace(theirs)),
    )
    retired_project = await make_project(workspace)
    retired_project.is_active = False
    await retired_project.save()
    in_retired_workspace = await make_project(retired_workspace)
    prompts = {
        "organisation-wide": await _prompt(mine),
        "this workspace's": await _prompt(mine, workspace=workspace),
        "another workspace's": await _prompt(mine, workspace=other_workspace),
        "a retired workspace's": await _prompt(mine, workspace=retired_workspace),
        "retired": await _prompt(mine, active=False),
        "foreign": await _prompt(theirs),
    }
    retired_workspace.is_active = False
    await retired_workspace.save()
    compose = ComposeService()
    outcomes = {}
    for who, user in (("writer", writer), ("viewer", viewer)):
        actor = await principal_for(user)
        for place in (project, their_project, retired_project, in_retired_workspace):
            for name, prompt in [*prompts.items(), ("unknown", None)]:
                prompt_id = prompt.id if prompt is not None else 10**9
                fast, slow = await _both(
                    monkeypatch,
                    lambda a=actor, p=place.id, t=prompt_id: compose.check(
                        actor=a, project_id=p, prompt_id=t
                    ),
                )
                assert fast == slow, (who, place.id, name)
                outcomes[(who, place.id, name)] = fast
    assert isinstance(outcomes[("writer", project.id, "this workspace's")][3], dict)
    assert isinstance(outcomes[("writer", project.id, "organisation-wide")][3], dict)
    assert outcomes[("writer", project.id, "another workspace's")] == ("NotFound", "not_found")
    assert outcomes[("viewer", project.id, "organisation-wide")][0] == "PermissionDenied"
    assert outcomes[("writer", their_project.id, "foreign")] == ("NotFound", "not_found")


async def test_the_last_choice(db: str, monkeypatch) -> None:
    org = await make_org()
    writer = await add_member(org, Role.WRITER)
    workspace = await make_workspace(org)
    project = await make_project(workspace)
    prompt = await _prompt(org)
    compose = ComposeService()

    async def last() -> object:
        return await compose.last_choice(actor=await principal_for(writer))

    assert await _both(monkeypatch, last) == (None, None)  # nothing saved
    for prompt_id, fast_write in ((prompt.id, True), (None, True), (prompt.id, False)):
        with monkeypatch.context() as patched:
            if not fast_write:
                patched.setattr(raw, "postgres", lambda: None)
            await compose.choose(
                actor=await principal_for(writer), project_id=project.id, prompt_id=prompt_id
            )
        fast, slow = await _both(monkeypatch, last)
        assert fast == slow and fast is not None
        chosen = fast[3]  # type: ignore[index]
        assert (chosen["id"] if chosen else None) == prompt_id
    await compose.choose(actor=await principal_for(writer), project_id=project.id, prompt_id=None)
    await ComposeChoice.filter(user_id=writer.id).update(prompt_id=prompt.id)
    prompt.is_active = False
    await prompt.save()
    assert await _both(monkeypatch, last) == (None, None)  # its prompt was retired
    await Membership.filter(user_id=writer.id, organization_id=org.id).update(role=Role.VIEWER)
    await ComposeChoice.filter(user_id=writer.id).update(prompt_id=None)
    assert await _both(monkeypatch, last) == (None, None)  # no longer allowed to write


# -- the start of an update: the mark, the conversation and the actor in one ---------------------


async def test_the_start_of_an_update(db: str, monkeypatch, services) -> None:
    telegram: TelegramLinkService = services.telegram
    conversations: ConversationService = services.conversations
    org = await make_org()
    writer = await add_member(org, Role.WRITER)
    other = await make_org()
    await add_member(other, Role.EDITOR, writer)
    await _link(writer)
    gone = await add_member(org, Role.WRITER)
    await User.filter(id=gone.id).update(is_active=False)
    await _link(gone, TELEGRAM_ID + 1)
    chat = 55

    async def start_of(telegram_id: int) -> object:
        start = await telegram.begin_update(chat, telegram_id)
        refusal = None if start.refusal is None else start.refusal.code
        return (_shown(start.conversation), _shown(start.actor), refusal, start.reached)

    async def mark() -> None:
        await TelegramLink.all().update(unreachable_since=services.clock.now())

    seen = []
    for telegram_id in (TELEGRAM_ID, TELEGRAM_ID + 1, TELEGRAM_ID + 2):
        for state in (None, "compose.vars"):
            if state is not None:
                await conversations.set(chat, telegram_id, state, {"index": 2})
            await mark()
            fast, _ = await _both(monkeypatch, lambda i=telegram_id: start_of(i))
            marked = TelegramLink.filter(unreachable_since__not_isnull=True)
            assert not await marked.filter(telegram_user_id=telegram_id).exists()
            await mark()
            with monkeypatch.context() as patched:
                patched.setattr(raw, "postgres", lambda: None)
                slow = await start_of(telegram_id)
            assert fast == slow, (telegram_id, state)
            seen.append(fast)
    member, unknown = seen[0], seen[4]
    assert member[1][1] == {org.id: Role.WRITER, other.id: Role.EDITOR}
    assert member[3] is True  # the mark was cleared
    assert seen[1][0] == ("compose.vars", {"index": 2}, None)
    assert seen[2][1:] == (None, "user_inactive", True)
    assert unknown == ((None, {}, None), None, None, False)  # not linked: nothing to clear
