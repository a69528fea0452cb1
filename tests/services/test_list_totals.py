"""The content list's cached totals (core/services/list_totals.py): a hit reads only the page,
a wrong entry is never believed, and every write path in core that can change a count makes the
next list show the new total at once (PostgreSQL and Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from core.bootstrap import bootstrap
from core.clock import FrozenClock
from core.container import Services, build_services
from core.llm.base import LlmUnavailable
from core.security.principal import Principal
from core.services.list_totals import ListTotals
from core.settings import Settings
from db.models import Content, ContentStatus, GenerationJob, JobStatus, Role, User, Workspace
from tests.support.factories import (
    add_member,
    make_org,
    make_project,
    make_workspace,
    principal_for,
)
from tests.support.llm import ScriptedLlm
from tests.support.queries import recording_queries

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

BODY = "متنی برای شمارش که چند واژه دارد."
# The unfiltered list and one per status: every write below changes at least one of them.
VARIANTS: list[dict[str, Any]] = [{}, *({"status": s} for s in ContentStatus)]
COUNTING = "count(*) OVER ()"


@dataclass
class World:
    services: Services
    admin: User
    editor: User
    writer: User
    workspace: Workspace
    project_id: int
    organization_id: int
    contents: list[Content] = field(default_factory=list)


Build = Callable[..., Services]


@pytest.fixture
async def build(
    settings: Settings, clock: FrozenClock, clean_redis: Any, db: str
) -> AsyncIterator[Build]:
    """Containers as the product builds them, all on one Redis (each one is a process)."""
    built: list[Services] = []

    def make(**changes: Any) -> Services:
        llm = changes.pop("llm", None)
        tuned = settings.model_copy(update={"timezone": "Asia/Tehran", **changes})
        services = build_services(tuned, clock=clock, llm=llm)
        built.append(services)
        return services

    yield make
    for services in reversed(built):
        await services.aclose()


async def make_world(services: Services) -> World:
    org = await make_org()
    workspace = await make_workspace(org)
    project = await make_project(workspace)
    world = World(
        services=services,
        admin=await add_member(org, Role.ADMIN),
        editor=await add_member(org, Role.EDITOR),
        writer=await add_member(org, Role.WRITER),
        workspace=workspace,
        project_id=project.id,
        organization_id=org.id,
    )
    for n in range(3):
        world.contents.append(await create(world, f"نوشته {n}"))
    return world


async def create(world: World, title: str) -> Content:
    return await world.services.content.create(
        actor=await principal_for(world.writer), project_id=world.project_id, title=title, body=BODY
    )


async def seen(services: Services, actor: Principal) -> list[int]:
    """The totals the list shows, on pages of one row: a full page cannot expose a stale total
    (a short page would, see the next test), so only the invalidation keeps these exact."""
    return [
        (await services.content.list_summaries(actor=actor, limit=1, **v)).count for v in VARIANTS
    ]


async def truth(services: Services, actor: Principal) -> list[int]:
    """The totals through the ORM path, which never caches."""
    return [(await services.content.list_contents(actor=actor, **v)).count for v in VARIANTS]


async def primed(services: Services, actor: Principal) -> list[int]:
    """Every variant's total, cached: asked twice, the second time without a count."""
    first = await seen(services, actor)
    with recording_queries() as log:
        assert await seen(services, actor) == first
    assert not [s for s in log.statements if COUNTING in s], "the second round was not cached"
    return first


async def assert_next_list_is_fresh(
    world: World, write: Callable[[], Awaitable[Any]], *, reader: Services | None = None
) -> None:
    """Cache every total, write, and the very next lists show the new totals."""
    reader = reader or world.services
    viewers = [await principal_for(u) for u in (world.admin, world.writer)]
    before = [await primed(reader, actor) for actor in viewers]
    await write()
    viewers = [await principal_for(u) for u in (world.admin, world.writer)]
    after = [await seen(reader, actor) for actor in viewers]
    assert after == [await truth(reader, actor) for actor in viewers]
    assert after != before, "the write changed no total: this check proves nothing"


# --- hits, misses and wrong entries ----------------------------------------------------------


def counting_redis_calls(services: Services, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    assert services.redis is not None
    original = services.redis.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        calls.append(str(args[0]))
        return await original(*args, **options)

    monkeypatch.setattr(services.redis, "execute_command", counted)
    return calls


async def test_a_hit_reads_only_the_page_in_one_redis_round_trip(
    build: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_world(build())
    services = world.services
    actor = await principal_for(world.admin)
    calls = counting_redis_calls(services, monkeypatch)

    with recording_queries() as miss:
        counted = await services.content.list_summaries(actor=actor)
    assert (calls, counted.count) == (["MGET", "SET"], 3)
    assert [COUNTING in s for s in miss.statements] == [True]

    calls.clear()
    with recording_queries() as hit:
        cached = await services.content.list_summaries(actor=actor)
    assert cached == counted
    assert calls == ["MGET"]
    assert [COUNTING in s for s in hit.statements] == [False]
    # Later pages use the same entry.
    calls.clear()
    with recording_queries() as later:
        page = await services.content.list_summaries(actor=actor, offset=1, limit=1)
    assert (page.count, [c.id for c in page.items]) == (3, [world.contents[1].id])
    assert (calls, [COUNTING in s for s in later.statements]) == (["MGET"], [False])


async def test_concurrent_misses_in_one_process_count_once(build: Build) -> None:
    """An entry ends while many requests are in flight: the first counts, the others wait for
    its total and read only their pages (one count per process, not one per request)."""
    world = await make_world(build())
    services = world.services
    actor = await principal_for(world.admin)
    offsets = [n % 3 for n in range(9)]
    with recording_queries() as log:
        pages = await asyncio.gather(
            *(services.content.list_summaries(actor=actor, offset=n, limit=1) for n in offsets)
        )
    assert [COUNTING in s for s in log.statements].count(True) == 1
    assert len(log.statements) == len(offsets)
    assert [page.count for page in pages] == [3] * len(offsets)
    newest_first = world.contents[::-1]
    assert [page.items[0].id for page in pages] == [newest_first[n].id for n in offsets]


async def test_each_filter_and_each_caller_has_its_own_entry(build: Build) -> None:
    world = await make_world(build())
    services = world.services
    editor = await principal_for(world.editor)
    await services.content.submit(actor=editor, content_id=world.contents[0].id)
    await services.content.approve(actor=editor, content_id=world.contents[0].id)
    await services.content.create(
        actor=editor, project_id=world.project_id, title="از ویراستار", body=BODY
    )
    # The writer is an admin elsewhere too: another set of roles, another entry.
    await add_member(await make_org(), Role.ADMIN, user=world.writer)
    viewer = await add_member(await world.workspace.organization, Role.VIEWER)
    totals = {}
    for user in (world.admin, world.writer, viewer):
        actor = await principal_for(user)
        totals[user.id] = await primed(services, actor)
        assert totals[user.id] == await truth(services, actor)
    # All four; the writer's own three; the approved one: the entries are apart.
    assert [totals[u.id][0] for u in (world.admin, world.writer, viewer)] == [4, 3, 1]


async def test_a_cached_total_the_page_contradicts_is_counted_again(build: Build) -> None:
    world = await make_world(build())
    services = world.services
    actor = await principal_for(world.admin)
    assert (await services.content.list_summaries(actor=actor)).count == 3
    for wrong, offset in ((99, 0), (1, 0), (2, 2), (0, 0)):
        await plant(services, wrong)
        with recording_queries() as log:
            listing = await services.content.list_summaries(actor=actor, offset=offset)
        assert listing.count == 3, (wrong, offset)
        assert [c.id for c in listing.items] == [c.id for c in world.contents[::-1][offset:]]
        assert COUNTING in log.statements[-1]
    # A total that puts the page past the end is counted too, never answered from the cache.
    await plant(services, 1)
    past = await services.content.list_summaries(actor=actor, offset=2)
    assert (past.count, [c.id for c in past.items]) == (3, [world.contents[0].id])


async def plant(services: Services, total: int) -> None:
    """Overwrite every cached total with ``total`` under its still-valid stamp."""
    assert services.redis is not None
    prefix = services.settings.redis_key_prefix + "list-total:"
    async for key in services.redis.scan_iter(match=prefix + "*"):
        if b":org:" in key:
            continue
        _, _, stamp = (await services.redis.get(key)).decode().partition("|")
        await services.redis.set(key, f"{total}|{stamp}", px=10_000)


@pytest.mark.parametrize("changes", [{"list_total_cache_seconds": 0}, {"redis_url": None}])
async def test_without_the_cache_every_list_counts(build: Build, changes: dict) -> None:
    world = await make_world(build(**changes))
    actor = await principal_for(world.admin)
    for _ in range(2):
        with recording_queries() as log:
            assert (await world.services.content.list_summaries(actor=actor)).count == 3
        assert [COUNTING in s for s in log.statements] == [True]


async def test_an_entry_expires_after_its_ttl(build: Build) -> None:
    world = await make_world(build(list_total_cache_seconds=0.2))
    actor = await principal_for(world.admin)
    await primed(world.services, actor)
    await asyncio.sleep(0.3)
    with recording_queries() as log:
        await world.services.content.list_summaries(actor=actor)
    assert COUNTING in log.statements[0]


async def test_a_redis_outage_only_costs_the_count() -> None:
    unreachable = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    totals = ListTotals(unreachable, key_prefix="x:", ttl_seconds=10)
    try:
        assert await totals.lookup("scope", [1]) is None
        await totals.changed(1)  # logged, not raised: the write it follows has committed
    finally:
        await unreachable.aclose()


# --- every write path in core: the next list shows the new total at once ---------------------


async def test_creating_content(build: Build) -> None:
    world = await make_world(build())
    await assert_next_list_is_fresh(world, lambda: create(world, "تازه"))


async def test_a_write_in_another_process(build: Build) -> None:
    world = await make_world(build())
    await assert_next_list_is_fresh(world, lambda: create(world, "تازه"), reader=build())


async def test_the_review_workflow_and_deleting(build: Build) -> None:
    world = await make_world(build())
    content = world.services.content
    first, second = (c.id for c in world.contents[:2])

    async def as_writer(method: str, content_id: int, **kw: Any) -> Any:
        actor = await principal_for(world.writer)
        return await getattr(content, method)(actor=actor, content_id=content_id, **kw)

    async def as_editor(method: str, content_id: int, **kw: Any) -> Any:
        actor = await principal_for(world.editor)
        return await getattr(content, method)(actor=actor, content_id=content_id, **kw)

    await assert_next_list_is_fresh(world, lambda: as_writer("submit", first))
    await assert_next_list_is_fresh(world, lambda: as_editor("approve", first))
    await as_writer("submit", second)
    await assert_next_list_is_fresh(world, lambda: as_editor("reject", second, reason="کوتاه"))
    # An edit returns rejected content to draft.
    await assert_next_list_is_fresh(world, lambda: as_writer("update", second, body=BODY + " نو"))
    await assert_next_list_is_fresh(world, lambda: as_editor("delete", first))


async def test_generation_starting_finishing_and_failing(build: Build) -> None:
    llm = ScriptedLlm()
    world = await make_world(build(llm=llm))
    target = world.contents[0].id
    generation = world.services.generation

    async def start() -> None:
        await generation.start(actor=await principal_for(world.writer), content_id=target)
        await llm.wait_for_first_chunks(1)

    async def finish() -> None:
        llm.release()
        await generation.drain()

    llm.hold()
    await assert_next_list_is_fresh(world, start)
    await assert_next_list_is_fresh(world, finish)

    gate = GatedFailure()
    failing = await make_world(build(llm=gate))
    await assert_next_list_is_fresh(failing, lambda: start_on(failing, gate))

    async def fail() -> None:
        gate.gate.set()
        await failing.services.generation.drain()

    await assert_next_list_is_fresh(failing, fail)
    job = await GenerationJob.get(content_id=failing.contents[0].id)
    assert (job.status, job.error) == (JobStatus.FAILED, "llm_unavailable")


async def start_on(world: World, gate: GatedFailure) -> None:
    actor = await principal_for(world.writer)
    await world.services.generation.start(actor=actor, content_id=world.contents[0].id)
    await gate.started.wait()


async def test_a_reaped_job_and_an_abort_outside_a_job(build: Build, clock: FrozenClock) -> None:
    llm = ScriptedLlm()
    world = await make_world(build(llm=llm))
    other_process = build(llm=ScriptedLlm())
    llm.hold()
    job = await world.services.generation.start(
        actor=await principal_for(world.writer), content_id=world.contents[0].id
    )
    await llm.wait_for_first_chunks(1)
    clock.advance(hours=1)

    async def reap() -> None:
        reaper = other_process.generation
        assert await reaper.reap_stale_jobs(older_than=timedelta(minutes=10)) == 1

    await assert_next_list_is_fresh(world, reap)
    llm.release()
    await world.services.generation.drain()
    assert (await GenerationJob.get(id=job.id)).status == JobStatus.FAILED

    # The content service's own transaction (no caller's connection): begin, then abort.
    content = world.services.content
    ticket = None

    async def begin() -> None:
        nonlocal ticket
        actor = await principal_for(world.writer)
        ticket = await content.begin_generation(actor=actor, content_id=world.contents[1].id)

    async def abort() -> None:
        assert ticket is not None
        assert await content.abort_generation(
            content_id=world.contents[1].id, previous_status=ticket.previous_status
        )

    await assert_next_list_is_fresh(world, begin)
    await assert_next_list_is_fresh(world, abort)


async def test_a_finish_outside_a_job(build: Build) -> None:
    world = await make_world(build())
    content = world.services.content
    target = world.contents[1].id
    await content.begin_generation(actor=await principal_for(world.writer), content_id=target)

    async def finish() -> None:
        await content.finish_generation(content_id=target, job_id=None, actor_id=None, body=BODY)

    await assert_next_list_is_fresh(world, finish)
    assert (await Content.get(id=target)).status == ContentStatus.DRAFT


async def test_retiring_a_workspace_or_a_project(build: Build) -> None:
    world = await make_world(build())
    catalog = world.services.catalog
    other = await make_project(world.workspace)
    # Content that stays visible: a full page cannot give a stale total away.
    kept = await make_project(await make_workspace(await world.workspace.organization))
    for project in (other, kept):
        await world.services.content.create(
            actor=await principal_for(world.writer), project_id=project.id, title="و", body=BODY
        )

    async def retire_project() -> None:
        actor = await principal_for(world.admin)
        await catalog.delete_project(actor=actor, project_id=other.id)

    async def retire_workspace() -> None:
        actor = await principal_for(world.admin)
        await catalog.delete_workspace(actor=actor, workspace_id=world.workspace.id)

    await assert_next_list_is_fresh(world, retire_project)
    await assert_next_list_is_fresh(world, retire_workspace)


async def test_bootstrap_reviving_a_retired_default_workspace(build: Build) -> None:
    services = build()
    done = await bootstrap(
        phone="+989121234567", org_name="نشر نمونه", full_name=None, clock=services.clock
    )
    writer = await add_member(done.organization, Role.WRITER)
    world = World(
        services=services,
        admin=done.admin,
        editor=await add_member(done.organization, Role.EDITOR),
        writer=writer,
        workspace=done.workspace,
        project_id=done.project.id,
        organization_id=done.organization.id,
    )
    await create(world, "در فضای اصلی")
    await create(world, "باز در فضای اصلی")
    elsewhere = await make_project(await make_workspace(done.organization))
    await services.content.create(
        actor=await principal_for(writer), project_id=elsewhere.id, title="جای دیگر", body=BODY
    )
    await services.catalog.delete_workspace(
        actor=await principal_for(done.admin), workspace_id=done.workspace.id
    )

    async def revive() -> None:
        await bootstrap(
            phone="+989121234567",
            org_name="نشر نمونه",
            full_name=None,
            clock=services.clock,
            totals=services.content.totals,
        )

    await assert_next_list_is_fresh(world, revive)


async def test_a_role_change_is_a_new_entry(build: Build) -> None:
    """No mark needed: the roles are part of the entry's key."""
    world = await make_world(build())

    async def demote() -> None:
        await world.services.organizations.change_role(
            actor=await principal_for(world.admin),
            organization_id=world.organization_id,
            user_id=world.writer.id,
            role=Role.VIEWER,
        )

    await assert_next_list_is_fresh(world, demote)


async def test_a_total_never_stays_wrong_after_a_write_in_this_org(build: Build) -> None:
    """Writes in one process interleaved with lists in two: each list is exact at once."""
    world = await make_world(build())
    readers = [world.services, build()]
    content = world.services.content
    writer, editor = await principal_for(world.writer), await principal_for(world.editor)
    steps: list[Callable[[], Awaitable[Any]]] = []
    for n in range(4):
        made: list[int] = []

        async def make(n: int = n, made: list[int] = made) -> None:
            made.append((await create(world, f"گام {n}")).id)

        steps.append(make)
        steps.append(lambda made=made: content.submit(actor=writer, content_id=made[0]))
        decide = content.approve if n % 2 else content.reject
        extra = {} if n % 2 else {"reason": "دوباره"}
        steps.append(
            lambda made=made, decide=decide, extra=extra: decide(
                actor=editor, content_id=made[0], **extra
            )
        )
        if n == 3:
            steps.append(lambda made=made: content.delete(actor=editor, content_id=made[0]))
    for step in steps:
        await step()
        for reader in readers:
            for user in (world.admin, world.writer):
                actor = await principal_for(user)
                assert await seen(reader, actor) == await truth(reader, actor)


# --- a model double that fails when the test says so ----------------------------------------


@dataclass
class GatedFailure:
    """An ``LlmClient`` whose streams wait for ``gate`` and then fail (no text arrived)."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    def stream(self, *, messages: list[Any], model: str, max_tokens: int) -> _GatedStream:
        return _GatedStream(self, model)

    async def aclose(self) -> None:
        """Nothing to close."""


class _GatedStream:
    def __init__(self, llm: GatedFailure, model: str) -> None:
        self._llm = llm
        self.model = model
        self.usage = None

    def __aiter__(self) -> _GatedStream:
        return self

    async def __anext__(self) -> str:
        self._llm.started.set()
        await self._llm.gate.wait()
        raise LlmUnavailable(reason="server_error", status=500)

    async def aclose(self) -> None:
        """Nothing to close."""
