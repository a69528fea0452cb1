"""Watching a generation: the text as it arrives, then the outcome; cancelling a running job."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from core.clock import FrozenClock
from core.container import Services, build_services
from core.errors import NotFound
from core.llm.base import LlmClient
from core.services.generation import JobEnded, TextArrived
from core.settings import Settings
from db.models import (
    Content,
    ContentStatus,
    GenerationJob,
    JobStatus,
    OutboxMessage,
    ReservationStatus,
    Role,
    TelegramLink,
    UsageReservation,
)
from tests.support.factories import (
    add_member,
    make_org,
    make_project,
    make_workspace,
    principal_for,
)
from tests.support.llm import ScriptedLlm

pytestmark = pytest.mark.sqlite


@pytest.fixture
async def build(
    settings: Settings, clock: FrozenClock, db: str
) -> AsyncIterator[Callable[..., Services]]:
    built: list[Services] = []

    def make(*, llm: LlmClient | None = None, **changes: Any) -> Services:
        services = build_services(
            settings.model_copy(update={"timezone": "Asia/Tehran", **changes}), clock=clock, llm=llm
        )
        built.append(services)
        return services

    yield make
    for services in reversed(built):
        await services.aclose()


@pytest.fixture
async def place(db: str) -> dict[str, Any]:
    org = await make_org()
    writer = await add_member(org, Role.WRITER)
    other = await add_member(org, Role.WRITER)
    project = await make_project(await make_workspace(org))
    return {"org": org, "writer": writer, "other": other, "project": project}


async def _content(services: Services, place: dict[str, Any]) -> Content:
    return await services.content.create(
        actor=await principal_for(place["writer"]),
        project_id=place["project"].id,
        title="قهوه",
        body="متن",
    )


async def test_a_watcher_gets_every_piece_in_order_then_the_version(build, place) -> None:
    llm = ScriptedLlm(answer="یک پاسخ نسبتاً بلند برای آزمون جریان متن.", chunk_chars=5)
    services = build(llm=llm)
    content = await _content(services, place)
    llm.hold()
    job = await services.generation.start(
        actor=await principal_for(place["writer"]), content_id=content.id
    )
    events = await services.generation.watch(
        actor=await principal_for(place["writer"]), job_id=job.id
    )
    await llm.wait_for_first_chunks(1)
    seen = []
    async for event in events:
        seen.append(event)
        if len(seen) == 1:
            llm.release()
    texts = [e.text for e in seen if isinstance(e, TextArrived)]
    assert len(texts) > 2  # pieces, not one lump
    assert "".join(texts) == llm.answer
    end = seen[-1]
    assert isinstance(end, JobEnded) and end.ok and end.version_number == 2
    assert (await Content.get(id=content.id)).body == llm.answer


async def test_a_late_watcher_gets_the_text_so_far_first(build, place) -> None:
    llm = ScriptedLlm(answer="abcdefghijklmnop", chunk_chars=4)
    services = build(llm=llm)
    content = await _content(services, place)
    llm.hold()
    job = await services.generation.start(
        actor=await principal_for(place["writer"]), content_id=content.id
    )
    await llm.wait_for_first_chunks(1)
    events = await services.generation.watch(
        actor=await principal_for(place["writer"]), job_id=job.id
    )
    first = await anext(events)
    assert first == TextArrived("abcd")
    llm.release()
    rest = [e async for e in events]
    assert "".join(e.text for e in rest if isinstance(e, TextArrived)) == "efghijklmnop"
    assert isinstance(rest[-1], JobEnded) and rest[-1].ok


async def test_a_failed_model_call_ends_failed_and_releases(build, place) -> None:
    llm = ScriptedLlm(fail_before_first=True)
    services = build(llm=llm)
    content = await _content(services, place)
    job = await services.generation.start(
        actor=await principal_for(place["writer"]), content_id=content.id
    )
    events = [
        e
        async for e in await services.generation.watch(
            actor=await principal_for(place["writer"]), job_id=job.id
        )
    ]
    assert len(events) == 1 and isinstance(events[0], JobEnded)
    assert (events[0].status, events[0].error) == (JobStatus.FAILED, "llm_unavailable")
    assert (await UsageReservation.get(job_id=job.id)).status == ReservationStatus.RELEASED


async def test_watching_an_ended_job_gives_its_outcome(build, place) -> None:
    services = build(llm=ScriptedLlm())
    content = await _content(services, place)
    job = await services.generation.start(
        actor=await principal_for(place["writer"]), content_id=content.id
    )
    await services.generation.drain()
    events = [
        e
        async for e in await services.generation.watch(
            actor=await principal_for(place["writer"]), job_id=job.id
        )
    ]
    assert events == [JobEnded(status=JobStatus.SUCCEEDED, version_number=2)]


async def test_another_writer_cannot_watch_or_cancel(build, place) -> None:
    llm = ScriptedLlm()
    services = build(llm=llm)
    content = await _content(services, place)
    llm.hold()
    job = await services.generation.start(
        actor=await principal_for(place["writer"]), content_id=content.id
    )
    with pytest.raises(NotFound):
        await services.generation.watch(actor=await principal_for(place["other"]), job_id=job.id)
    with pytest.raises(NotFound):
        await services.generation.cancel(actor=await principal_for(place["other"]), job_id=job.id)
    llm.release()
    await services.generation.drain()


async def test_cancel_stops_the_job_and_the_watcher_hears_it(build, place) -> None:
    llm = ScriptedLlm(answer="x" * 200, chunk_chars=10)
    services = build(llm=llm)
    content = await _content(services, place)
    llm.hold()
    job = await services.generation.start(
        actor=await principal_for(place["writer"]), content_id=content.id
    )
    events = await services.generation.watch(
        actor=await principal_for(place["writer"]), job_id=job.id
    )
    await llm.wait_for_first_chunks(1)
    assert (
        await services.generation.cancel(actor=await principal_for(place["writer"]), job_id=job.id)
        is True
    )
    seen = [e async for e in events]
    assert isinstance(seen[-1], JobEnded)
    assert (seen[-1].status, seen[-1].error) == (JobStatus.FAILED, "generation_cancelled")
    assert (await GenerationJob.get(id=job.id)).status == JobStatus.FAILED
    assert (await Content.get(id=content.id)).status == ContentStatus.DRAFT
    assert (
        await services.generation.cancel(actor=await principal_for(place["writer"]), job_id=job.id)
        is False
    )


async def test_only_an_unwatched_job_notifies_its_requester(build, place) -> None:
    # The bot streaming a job into the chat shows its end there; a second message would repeat it.
    await TelegramLink.create(user=place["writer"], telegram_user_id=7001, chat_id=7001)
    llm = ScriptedLlm(answer="پاسخی کوتاه", chunk_chars=4)
    services = build(llm=llm)
    content = await _content(services, place)
    llm.hold()
    watched = await services.generation.start(
        actor=await principal_for(place["writer"]), content_id=content.id
    )
    events = await services.generation.watch(
        actor=await principal_for(place["writer"]), job_id=watched.id
    )
    llm.release()
    assert isinstance([event async for event in events][-1], JobEnded)
    assert not await OutboxMessage.filter(kind="generation_finished").exists()
    unwatched = await services.generation.start(
        actor=await principal_for(place["writer"]), content_id=content.id
    )
    await services.generation.drain()
    rows = await OutboxMessage.filter(kind="generation_finished").values_list("payload", flat=True)
    assert [row["job_id"] for row in rows] == [unwatched.id]
