"""REST sessions' principals kept per process (core/security/principal_cache.py): a kept one costs
no query, and every write in core that changes a principal counts from the very next request in
every process. Two containers on one Redis are two processes (PostgreSQL and Redis)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

import core.security.principal_cache as principal_cache
from core.clock import FrozenClock
from core.container import Services, build_services
from core.errors import Unauthenticated
from core.security.principal import Principal
from core.security.principal_cache import PrincipalCache
from core.settings import Settings
from db.models import Organization, Role, User
from tests.support.factories import add_member, make_org, principal_for
from tests.support.queries import recording_queries

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@dataclass
class Session:
    user: User
    access: str
    refresh: str


@dataclass
class World:
    here: Services  # the process that makes the writes
    there: Services  # another process, which must see them at once
    clock: FrozenClock
    org: Organization
    admin: User
    writer: Session


@pytest.fixture
async def world(
    settings: Settings, clock: FrozenClock, clean_redis: Any, db: str
) -> AsyncIterator[World]:
    here, there = build_services(settings, clock=clock), build_services(settings, clock=clock)
    org = await make_org()
    admin = await add_member(org, Role.ADMIN)
    writer = await add_member(org, Role.WRITER)
    tokens = await here.auth.issue_tokens(writer)
    session = Session(writer, tokens.access, tokens.refresh)
    yield World(here, there, clock, org, admin, session)
    await there.aclose()
    await here.aclose()


async def warm(world: World) -> None:
    """Both processes keep the writer's principal: asking again costs no statement. (The very
    first request creates the user's mark and keeps nothing; the next one keeps.)"""
    for services in (world.here, world.here, world.there):
        await services.auth.authenticate(world.writer.access)
    for services in (world.here, world.there):
        with recording_queries() as log:
            await services.auth.authenticate(world.writer.access)
        assert log.statements == [], "a kept principal is used without a query"


async def principal_there(world: World) -> Principal:
    return await world.there.auth.authenticate(world.writer.access)


async def test_a_kept_principal_is_the_one_the_database_gives(world: World) -> None:
    await warm(world)
    kept = await principal_there(world)
    fresh = await principal_cache.session_principal(world.writer.user.id, kept.session_id or "")
    assert kept.user_id == fresh.user_id == world.writer.user.id
    assert kept.session_id == fresh.session_id
    assert dict(kept.roles) == dict(fresh.roles) == {world.org.id: Role.WRITER}
    assert dict(kept.organizations) == dict(fresh.organizations)
    assert kept.organizations[world.org.id].name == world.org.name
    assert kept.user.phone_number == fresh.user.phone_number


async def test_a_kept_principal_is_a_copy_for_each_request(world: World) -> None:
    await warm(world)
    first = await principal_there(world)
    first.user.full_name = "changed by one request"
    second = await principal_there(world)
    assert second.user is not first.user
    assert second.user.full_name == world.writer.user.full_name


Write = Callable[[World], Awaitable[None]]


async def logout(world: World) -> None:
    actor = await principal_for(world.writer.user)
    await world.here.auth.logout(world.writer.refresh, actor=actor)


async def reuse_refresh_token(world: World) -> None:
    await world.here.auth.refresh(world.writer.refresh)
    world.clock.advance(seconds=world.here.settings.refresh_reuse_grace_seconds + 1)
    with pytest.raises(Unauthenticated):
        await world.here.auth.refresh(world.writer.refresh)  # reused: the family is revoked


async def deactivate_user(world: World) -> None:
    await world.here.accounts.set_user_active(world.writer.user.phone_number, active=False)


@pytest.mark.parametrize(
    ("write", "code"),
    [
        (logout, "token_revoked"),
        (reuse_refresh_token, "token_revoked"),
        (deactivate_user, "user_inactive"),
    ],
)
async def test_an_ended_session_is_refused_at_once_everywhere(
    world: World, write: Write, code: str
) -> None:
    await warm(world)
    await write(world)
    for services in (world.there, world.here):
        with pytest.raises(Unauthenticated) as refused:
            await services.auth.authenticate(world.writer.access)
        assert refused.value.code == code


async def change_role(world: World) -> None:
    await world.here.organizations.change_role(
        actor=await principal_for(world.admin),
        organization_id=world.org.id,
        user_id=world.writer.user.id,
        role=Role.EDITOR,
    )


async def remove_member(world: World) -> None:
    await world.here.organizations.remove_member(
        actor=await principal_for(world.admin),
        organization_id=world.org.id,
        user_id=world.writer.user.id,
    )


async def join_another_by_invite(world: World) -> None:
    other = await make_org()
    other_admin = await add_member(other, Role.ADMIN)
    invite = await world.here.invites.create(
        actor=await principal_for(other_admin), organization_id=other.id, role=Role.VIEWER
    )
    await world.here.invites.redeem(user=world.writer.user, token=invite.token)


async def join_another_by_phone(world: World) -> None:
    other = await make_org()
    other_admin = await add_member(other, Role.ADMIN)
    await world.here.organizations.invite_member(
        actor=await principal_for(other_admin),
        organization_id=other.id,
        phone_number=world.writer.user.phone_number,
        role=Role.VIEWER,
    )


async def create_an_organisation(world: World) -> None:
    await world.here.organizations.create_organization(
        actor=await principal_for(world.writer.user), name="سازمان تازه"
    )


async def rename_the_organisation(world: World) -> None:
    await world.here.organizations.update_organization(
        actor=await principal_for(world.admin), organization_id=world.org.id, name="نام تازه"
    )


async def deactivate_the_organisation(world: World) -> None:
    await world.here.accounts.set_organization_active(world.org.slug, active=False)


async def change_language(world: World) -> None:
    await world.here.preferences.set_language(
        actor=await principal_for(world.writer.user), language="en"
    )


@pytest.mark.parametrize(
    "write",
    [
        change_role,
        remove_member,
        join_another_by_invite,
        join_another_by_phone,
        create_an_organisation,
        rename_the_organisation,
        deactivate_the_organisation,
        change_language,
    ],
)
async def test_a_changed_principal_counts_at_once_everywhere(world: World, write: Write) -> None:
    await warm(world)
    await write(world)
    expected = await principal_cache.session_principal(world.writer.user.id, "any-session")
    for services in (world.there, world.here):
        seen = await services.auth.authenticate(world.writer.access)
        assert dict(seen.roles) == dict(expected.roles), write.__name__
        assert dict(seen.organizations) == dict(expected.organizations)
        assert seen.user.language == expected.user.language


async def test_a_reactivated_organisation_comes_back_at_once(world: World) -> None:
    await world.here.accounts.set_organization_active(world.org.slug, active=False)
    await warm(world)
    assert dict((await principal_there(world)).roles) == {}
    await world.here.accounts.set_organization_active(world.org.slug, active=True)
    assert dict((await principal_there(world)).roles) == {world.org.id: Role.WRITER}


async def test_a_write_racing_the_query_is_not_kept(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The principal is read, then a role change commits and sets its mark, then the (now old)
    principal is kept: it was kept under the marks read before its query, so the next request
    does not use it."""
    real = principal_cache.session_principal
    raced = []

    async def read_then_race(user_id: int, session_id: str) -> Principal:
        principal = await real(user_id, session_id)
        if not raced:
            raced.append(True)
            await change_role(world)
        return principal

    await warm(world)
    world.there.principals.forget_all()
    monkeypatch.setattr(principal_cache, "session_principal", read_then_race)
    old = await principal_there(world)
    assert dict(old.roles) == {world.org.id: Role.WRITER}  # read before the change committed
    assert dict((await principal_there(world)).roles) == {world.org.id: Role.EDITOR}


async def test_a_missing_mark_is_created_and_nothing_is_kept_under_it(world: World) -> None:
    await warm(world)
    prefix = world.here.settings.redis_key_prefix
    assert world.here.redis is not None
    await world.here.redis.delete(f"{prefix}principal:user:{world.writer.user.id}")
    for expected_statements in (1, 1, 0):  # missing, then created (kept now), then kept
        with recording_queries() as log:
            await principal_there(world)
        assert log.count == expected_statements


class SwitchableRedis:
    """A Redis client that fails while ``down`` (as a refused connection does); calls counted."""

    def __init__(self, real: Any) -> None:
        self.real, self.down, self.calls = real, False, 0

    def __getattr__(self, name: str) -> Any:
        self.calls += 1
        if self.down:
            raise RedisConnectionError("Connection refused")
        return getattr(self.real, name)


async def test_an_unreachable_redis_reads_the_database_rests_and_recovers(
    world: World, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=principal_cache.__name__)
    now = [1000.0]
    redis = SwitchableRedis(world.here.redis)
    cache = PrincipalCache(
        redis, key_prefix=settings.redis_key_prefix, ttl_seconds=30, monotonic=lambda: now[0]
    )
    user_id = world.writer.user.id
    session = (await world.here.auth.authenticate(world.writer.access)).session_id or ""
    for _ in range(2):
        await cache.principal(user_id, session)  # kept
    redis.down, redis.calls = True, 0
    for _ in range(3):
        with recording_queries() as log:
            assert (await cache.principal(user_id, session)).user_id == user_id
        assert log.count == 1  # read from PostgreSQL
    assert redis.calls == 1, "after one failure Redis rests: no socket wait per request"
    assert [r.message for r in caplog.records if r.levelname == "WARNING"] == [
        "principal cache unavailable, reading the database: Connection refused"
    ]
    redis.down = False
    now[0] += principal_cache.REDIS_RETRY_SECONDS
    with recording_queries() as log:
        await cache.principal(user_id, session)
    assert log.count == 1, "what was kept before the outage was dropped"
    assert "principal cache available again" in caplog.text
    with recording_queries() as log:
        await cache.principal(user_id, session)
    assert log.count == 0


async def test_a_mark_a_write_could_not_set_is_set_when_redis_answers_again(
    world: World, settings: Settings
) -> None:
    """Redis fails just as a logout sets its mark: this process sets it on its next talk with
    Redis, so the other processes refuse the session from then on, not at their TTL."""
    await warm(world)
    here = world.here.principals
    redis = SwitchableRedis(here._redis)
    here._redis = redis
    redis.down = True
    await logout(world)
    redis.down = False
    with pytest.raises(Unauthenticated):  # this process forgot what it kept
        await world.here.auth.authenticate(world.writer.access)
    with pytest.raises(Unauthenticated) as refused:
        await principal_there(world)
    assert refused.value.code == "token_revoked"


async def test_an_entry_ends_at_its_age_limit(world: World, settings: Settings) -> None:
    """What no mark covers (SQL by hand) is seen once the entry is ``ttl_seconds`` old."""
    now = [1000.0]
    cache = PrincipalCache(
        world.here.redis,
        key_prefix=settings.redis_key_prefix,
        ttl_seconds=30,
        monotonic=lambda: now[0],
    )
    user_id = world.writer.user.id
    session = (await world.here.auth.authenticate(world.writer.access)).session_id or ""
    for _ in range(2):  # the first creates the marks, the second keeps
        await cache.principal(user_id, session)
    await User.filter(id=user_id).update(full_name="renamed by hand")
    now[0] += 29
    assert (await cache.principal(user_id, session)).user.full_name != "renamed by hand"
    now[0] += 2
    assert (await cache.principal(user_id, session)).user.full_name == "renamed by hand"


async def test_the_least_recently_used_go_first(world: World, settings: Settings) -> None:
    cache = PrincipalCache(
        world.here.redis, key_prefix=settings.redis_key_prefix, ttl_seconds=30, max_entries=2
    )
    sessions = []
    for _ in range(3):
        tokens = await world.here.auth.issue_tokens(world.writer.user)
        principal = await world.here.auth.authenticate(tokens.access)
        sessions.append(principal.session_id or "")
    for session in sessions:
        for _ in range(2):
            await cache.principal(world.writer.user.id, session)
    with recording_queries() as log:
        await cache.principal(world.writer.user.id, sessions[0])
    assert log.count == 1
    with recording_queries() as log:
        await cache.principal(world.writer.user.id, sessions[2])
    assert log.count == 0


async def test_without_a_ttl_there_is_no_cache(world: World, settings: Settings) -> None:
    cache = PrincipalCache(world.here.redis, key_prefix=settings.redis_key_prefix, ttl_seconds=0)
    session = (await world.here.auth.authenticate(world.writer.access)).session_id or ""
    assert not cache.enabled
    for _ in range(2):
        with recording_queries() as log:
            await cache.principal(world.writer.user.id, session)
        assert log.count == 1
