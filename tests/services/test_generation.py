"""The generation service: jobs, PII, kinds, limits under concurrency, failures, recovery."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from core.clock import FrozenClock
from core.container import Services, build_services
from core.errors import (
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
)
from core.llm.base import LlmClient, Usage
from core.llm.instructions import MAX_OUTPUT_TOKENS
from core.llm.openai_client import OpenAiLlmClient, RetryPolicy
from core.llm.pricing import cost, estimate_tokens
from core.notify import InMemoryNotifier
from core.services.usage import UsageLimitExceeded
from core.settings import LlmBackend, Settings
from core.text.normalize import normalize_digits
from core.validators.card import luhn_checksum
from core.validators.iban import iban_check_digits
from core.validators.national_id import check_digit
from db.models import (
    Content,
    ContentStatus,
    ContentVersion,
    GenerationJob,
    GenerationKind,
    JobStatus,
    Language,
    Organization,
    Project,
    Prompt,
    ReservationStatus,
    Role,
    UsageCounter,
    UsageLimit,
    UsageLog,
    UsagePeriod,
    UsageReservation,
    UsageScope,
    User,
    VersionSource,
    Workspace,
)
from tests.fakes.openai_server import FakeOpenAI
from tests.support.factories import (
    add_member,
    make_org,
    make_project,
    make_workspace,
    principal_for,
)
from tests.support.llm import ScriptedLlm
from tests.support.sessions import locking_session

BODY = "قهوهٔ دمی را با آب نود و دو درجه آماده کنید و چهار دقیقه صبر کنید."
NO_WAIT = RetryPolicy(retries=2, backoff_seconds=0.0, max_backoff_seconds=0.0)

pytestmark = pytest.mark.sqlite


@dataclass
class World:
    org: Organization
    roles: dict[Role, User]
    workspace: Workspace
    project: Project

    @property
    def writer(self) -> User:
        return self.roles[Role.WRITER]

    @property
    def editor(self) -> User:
        return self.roles[Role.EDITOR]


Build = Callable[..., Services]


@pytest.fixture
async def build(
    settings: Settings, clock: FrozenClock, db: str
) -> AsyncIterator[Callable[..., Services]]:
    """Build containers like the product does (closed at the end); keyword changes to settings."""
    built: list[Services] = []

    def make(*, llm: LlmClient | None = None, notifier=None, **changes: Any) -> Services:
        # TIMEZONE explicitly: Tortoise.init put TIMEZONE=UTC into os.environ.
        tuned = settings.model_copy(update={"timezone": "Asia/Tehran", **changes})
        services = build_services(tuned, clock=clock, llm=llm, notifier=notifier)
        built.append(services)
        return services

    yield make
    for services in reversed(built):
        await services.aclose()


@pytest.fixture
async def world(db: str) -> World:
    org = await make_org()
    roles = {role: await add_member(org, role) for role in Role}
    workspace = await make_workspace(org)
    return World(org=org, roles=roles, workspace=workspace, project=await make_project(workspace))


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


def openai_settings(fake: FakeOpenAI) -> dict[str, Any]:
    """Settings changes that make build_services talk to the fake through the real client."""
    return {
        "llm_backend": LlmBackend.OPENAI,
        "openai_base_url": fake.base_url,
        "openai_api_key": SecretStr("test"),
    }


def openai_client(fake: FakeOpenAI, *, timeout_seconds: float = 5.0) -> OpenAiLlmClient:
    return OpenAiLlmClient(
        api_key="test", base_url=fake.base_url, timeout_seconds=timeout_seconds, retry=NO_WAIT
    )


async def new_content(
    services: Services, world: World, *, title: str = "قهوهٔ دمی", body: str = BODY, **kw: Any
) -> Content:
    return await services.content.create(
        actor=await principal_for(world.writer),
        project_id=world.project.id,
        title=title,
        body=body,
        **kw,
    )


async def generate(services: Services, world: World, content: Content, **kw: Any) -> GenerationJob:
    """Start a job as the content's writer and wait for it to end."""
    job = await services.generation.start(
        actor=await principal_for(world.writer), content_id=content.id, **kw
    )
    await services.generation.drain()
    return await GenerationJob.get(id=job.id)


async def set_limit(world: World, scope: UsageScope, scope_id: int, period, **caps: Any) -> None:
    await UsageLimit.create(
        organization=world.org, scope=scope, scope_id=scope_id, period=period, **caps
    )


async def assert_nothing_held() -> None:
    """No job pending or running, no content generating, no reservation or counter held."""
    assert (
        await GenerationJob.filter(status__in=[JobStatus.PENDING, JobStatus.RUNNING]).count() == 0
    )
    assert await Content.filter(status=ContentStatus.GENERATING).count() == 0
    assert await UsageReservation.filter(status=ReservationStatus.HELD).count() == 0
    for c in await UsageCounter.all():
        assert (c.reserved_requests, c.reserved_tokens, c.reserved_cost_usd) == (0, 0, 0)


# --- the happy path --------------------------------------------------------------------------


async def test_a_generation_is_a_job_that_writes_a_version(build: Build, world: World) -> None:
    notifier = InMemoryNotifier()
    services = build(notifier=notifier)
    content = await new_content(services, world)

    job = await services.generation.start(
        actor=await principal_for(world.writer), content_id=content.id
    )

    assert job.status == JobStatus.PENDING
    assert (await Content.get(id=content.id)).status == ContentStatus.GENERATING
    assert (await UsageReservation.get(job_id=job.id)).status == ReservationStatus.HELD
    await services.generation.drain()

    job = await GenerationJob.get(id=job.id)
    assert (job.status, job.error, job.version_number, job.kind) == (
        JobStatus.SUCCEEDED,
        None,
        2,
        GenerationKind.DRAFT,
    )
    content = await Content.get(id=content.id)
    version = await ContentVersion.get(content_id=content.id, number=2)
    assert content.status == ContentStatus.DRAFT
    assert (version.source, version.job_id, version.created_by_id) == (
        VersionSource.GENERATION,
        job.id,
        world.writer.id,
    )
    assert content.body == version.body
    assert "offline" in content.body.lower() or "آفلاین" in content.body
    # The offline backend is billed as the explicitly free model "offline".
    log = await UsageLog.get(job_id=job.id)
    assert (log.model, log.cost_usd, log.success) == ("offline", Decimal(0), True)
    assert log.total_tokens > 0
    assert (await UsageReservation.get(job_id=job.id)).status == ReservationStatus.SETTLED
    for c in await UsageCounter.all():
        assert (c.requests, c.tokens) == (1, log.total_tokens)
    assert notifier.events == [
        ("generation_finished", {"content": content.id, "job": job.id, "ok": True})
    ]
    await assert_nothing_held()


async def test_many_generations_stream_at_the_same_time(build: Build, world: World) -> None:
    llm = ScriptedLlm()
    services = build(llm=llm)
    contents = [await new_content(services, world) for _ in range(10)]
    llm.hold()

    for content in contents:
        await services.generation.start(
            actor=await principal_for(world.writer), content_id=content.id
        )
    # Every stream is inside its model call at once: none waits for another to finish.
    await llm.wait_for_first_chunks(10)
    assert services.generation.running == 10
    assert await GenerationJob.filter(status=JobStatus.RUNNING).count() == 10
    llm.release()
    await services.generation.drain()

    assert await GenerationJob.filter(status=JobStatus.SUCCEEDED).count() == 10
    await assert_nothing_held()


# --- PII ---------------------------------------------------------------------------------------


def persian(text: str) -> str:
    return text.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))


def valid_card(prefix15: str) -> str:
    return prefix15 + str((10 - luhn_checksum(prefix15 + "0")) % 10)


BBAN = "0170000000123456789012"
IBAN = f"IR{iban_check_digits(BBAN)}{BBAN}"
NATIONAL_ID = "049937089" + str(check_digit("049937089"))
CARD = valid_card("603799112345678")
PII_VALUES = {
    "phone": "09123456789",
    "phone_spaced_persian": persian("0935 123 4567"),
    "phone_international": "+98 912 765 4321",
    "email": "ali.rezaei@example.com",
    "iban_grouped": " ".join([IBAN[i : i + 4] for i in range(0, len(IBAN), 4)]),
    "national_id_persian": persian(NATIONAL_ID),
    "card_spaced": " ".join(CARD[i : i + 4] for i in range(0, 16, 4)),
    "card_persian": persian(valid_card("622106123456789")),
}


def digits_only(text: str) -> str:
    return re.sub(r"[^0-9]", "", normalize_digits(text))


async def test_no_pii_reaches_the_model_and_the_answer_has_it_back(
    build: Build, world: World, fake: FakeOpenAI
) -> None:
    # The fake echoes the user message, as a model that keeps the placeholders would.
    fake.answer = lambda body: body["messages"][-1]["content"]
    services = build(**openai_settings(fake))
    prompt = await Prompt.create(
        organization=world.org,
        title="Contact card",
        template="Write a contact card for {name}, phone {phone}, e-mail {email}.",
        variables=[
            {"name": "name", "label": "Name", "required": True},
            {"name": "phone", "label": "Phone"},
            {"name": "email", "label": "E-mail"},
        ],
        language=Language.EN,
    )
    body = (
        f"Pay to {PII_VALUES['iban_grouped']} or card {PII_VALUES['card_spaced']}; "
        f"national id {PII_VALUES['national_id_persian']}; card {PII_VALUES['card_persian']}."
    )
    content = await new_content(
        services,
        world,
        title=f"Call {PII_VALUES['phone']}",
        body=body,
        prompt_id=prompt.id,
        variables={"name": "Ali", "phone": PII_VALUES["phone_spaced_persian"]},
    )

    job = await generate(
        services,
        world,
        content,
        kind=GenerationKind.REWRITE,
        instructions=f"Mention {PII_VALUES['phone_international']} too.",
        variables={"email": PII_VALUES["email"]},
    )

    assert job.status == JobStatus.SUCCEEDED, job.error
    sent = json.dumps(fake.requests, ensure_ascii=False)
    sent_digits = digits_only(sent)
    for name, value in PII_VALUES.items():
        assert value not in sent, name
        assert digits_only(value) not in sent_digits or name == "email", name
    assert "example.com" not in sent
    for placeholder in ("[PHONE_1]", "[EMAIL_1]", "[IBAN_1]", "[CARD_1]", "[NATIONAL_ID_1]"):
        assert placeholder in sent
    content = await Content.get(id=content.id)
    for name, value in PII_VALUES.items():
        if name != "phone":  # the title is not part of the body
            assert value in content.body, name
    assert "[PHONE_" not in content.body
    assert content.has_pii
    sent_findings = {"phone": 3, "email": 1, "iban": 1, "national_id": 1, "card": 2}
    assert job.params["pii_sent"] == sent_findings
    # The content holds the larger count per type: the title's phone is also in the new body.
    assert content.pii_findings == {**sent_findings, "phone": 4}
    assert PII_VALUES["email"] not in json.dumps(job.params, ensure_ascii=False)


async def test_pii_sent_is_recorded_on_the_content_even_when_the_answer_drops_it(
    build: Build, world: World
) -> None:
    llm = ScriptedLlm(answer="A reply with nothing private in it.")
    services = build(llm=llm)
    content = await new_content(services, world)

    await generate(services, world, content, instructions="Call ۰۹۱۲۳۴۵۶۷۸۹ for details.")

    assert "[PHONE_1]" in llm.requests[0][1].content
    content = await Content.get(id=content.id)
    assert (content.has_pii, content.pii_findings) == (True, {"phone": 1})


# --- prompts and kinds -------------------------------------------------------------------------


async def test_each_kind_has_its_own_instruction_and_only_rewrite_and_caption_send_the_body(
    build: Build, world: World
) -> None:
    llm = ScriptedLlm()
    services = build(llm=llm)
    content = await new_content(services, world)

    for kind in GenerationKind:
        job = await generate(services, world, content, kind=kind)
        assert job.status == JobStatus.SUCCEEDED
        assert job.params["max_tokens"] == min(4000, MAX_OUTPUT_TOKENS[kind])

    systems = [messages[0].content for messages in llm.requests]
    users = [messages[1].content for messages in llm.requests]
    assert len(set(systems)) == len(GenerationKind)
    assert all("[PHONE_1]" in s for s in systems)  # every kind is told to keep placeholders
    body = (await Content.get(id=content.id)).body
    sends_body = {kind: body in user for kind, user in zip(GenerationKind, users, strict=True)}
    assert sends_body == {
        GenerationKind.OUTLINE: False,
        GenerationKind.DRAFT: False,
        GenerationKind.REWRITE: True,
        GenerationKind.CAPTION: True,
    }
    assert all("قهوهٔ دمی" in user and "عنوان" in user for user in users)


async def test_the_prompt_template_renders_safely_in_the_prompts_language(
    build: Build, world: World
) -> None:
    llm = ScriptedLlm()
    services = build(llm=llm)
    prompt = await Prompt.create(
        organization=world.org,
        title="Tea",
        kind=GenerationKind.OUTLINE,
        template="Write about {topic}. Keep {this}, {0}, {x.y} and {{topic}} as they are.",
        variables=[{"name": "topic", "label": "Topic", "required": True}],
        language=Language.EN,
    )
    content = await new_content(
        services, world, prompt_id=prompt.id, variables={"topic": "{green} tea"}
    )

    job = await generate(services, world, content, instructions="Short, please.")

    assert job.kind == GenerationKind.OUTLINE  # the prompt's kind when none is asked for
    system, user = llm.requests[0]
    assert system.content.startswith("You are a professional content writer")
    assert "Write about {green} tea. Keep {this}, {0}, {x.y} and {{topic}} as they are." in (
        user.content
    )
    assert user.content.endswith("Additional instructions:\nShort, please.")


async def test_invalid_input_is_refused_before_anything_is_reserved(
    build: Build, world: World
) -> None:
    llm = ScriptedLlm()
    services = build(llm=llm)
    prompt = await Prompt.create(
        organization=world.org,
        title="Tea",
        template="About {topic}",
        variables=[{"name": "topic", "label": "Topic", "required": True}],
    )
    with_prompt = await new_content(services, world, prompt_id=prompt.id)
    empty = await new_content(services, world, body="")

    for content_id, kw, code in (
        (with_prompt.id, {}, "variable_required"),
        (with_prompt.id, {"variables": {"other": "x"}}, "unknown_variable"),
        (empty.id, {"kind": GenerationKind.REWRITE}, "nothing_to_rewrite"),
        (empty.id, {"instructions": "x" * 5000}, "too_long"),
    ):
        with pytest.raises(InvalidInput) as refused:
            await services.generation.start(
                actor=await principal_for(world.writer), content_id=content_id, **kw
            )
        assert refused.value.code == code

    assert llm.requests == []
    assert await GenerationJob.all().count() == 0
    assert await UsageCounter.all().count() == 0
    assert await Content.filter(status=ContentStatus.GENERATING).count() == 0


async def test_an_unpriced_model_is_a_configuration_error_never_free(
    build: Build, world: World, fake: FakeOpenAI
) -> None:
    services = build(**openai_settings(fake), openai_model="gpt-imaginary-9")
    content = await new_content(services, world)

    with pytest.raises(ConfigurationError) as refused:
        await services.generation.start(
            actor=await principal_for(world.writer), content_id=content.id
        )

    assert refused.value.code == "model_not_priced"
    assert fake.requests == []
    assert await GenerationJob.all().count() == 0
    assert await UsageCounter.all().count() == 0
    assert await UsageLog.all().count() == 0
    assert (await Content.get(id=content.id)).status == ContentStatus.DRAFT


# --- state and permissions ----------------------------------------------------------------------


async def test_only_draft_or_rejected_content_generates_and_only_once_at_a_time(
    build: Build, world: World
) -> None:
    llm = ScriptedLlm()
    services = build(llm=llm)
    content = await new_content(services, world)
    llm.hold()

    results = await asyncio.gather(
        *[
            services.generation.start(
                actor=await principal_for(world.writer), content_id=content.id
            )
            for _ in range(5)
        ],
        return_exceptions=True,
    )

    started = [r for r in results if isinstance(r, GenerationJob)]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert (len(started), len(conflicts)) == (1, 4), results
    assert {c.code for c in conflicts} == {"content_generating"}
    llm.release()
    await services.generation.drain()
    await services.content.submit(actor=await principal_for(world.writer), content_id=content.id)
    with pytest.raises(Conflict) as refused:
        await services.generation.start(
            actor=await principal_for(world.writer), content_id=content.id
        )
    assert refused.value.code == "content_in_review"
    # One reservation for the one job: the refused attempts held nothing.
    assert await UsageReservation.all().count() == 1
    await assert_nothing_held()


async def test_who_may_generate(build: Build, world: World) -> None:
    services = build(llm=ScriptedLlm())
    content = await new_content(services, world)
    other_writer = await add_member(world.org, Role.WRITER)
    outsider = await add_member(await make_org(), Role.ADMIN)

    with pytest.raises(NotFound):
        await services.generation.start(actor=await principal_for(outsider), content_id=content.id)
    with pytest.raises(NotFound):  # a writer does not see another writer's draft
        await services.generation.start(
            actor=await principal_for(other_writer), content_id=content.id
        )
    job = await services.generation.start(
        actor=await principal_for(world.editor), content_id=content.id
    )
    await services.generation.drain()
    assert (await GenerationJob.get(id=job.id)).user_id == world.editor.id


# --- limits under concurrency ------------------------------------------------------------------


@pytest.mark.parametrize("instances", [1, 2])
async def test_twenty_concurrent_generations_with_three_requests_left_run_exactly_three(
    build: Build, world: World, instances: int
) -> None:
    # Two containers sharing the database stand for two processes.
    containers = [build(llm=ScriptedLlm()) for _ in range(instances)]
    await set_limit(
        world, UsageScope.WORKSPACE, world.workspace.id, UsagePeriod.DAILY, requests_limit=5
    )
    warmup = [await new_content(containers[0], world) for _ in range(2)]
    for content in warmup:
        await generate(containers[0], world, content)
    contents = [await new_content(containers[0], world) for _ in range(20)]

    results = await asyncio.gather(
        *[
            containers[i % instances].generation.start(
                actor=await principal_for(world.writer), content_id=c.id
            )
            for i, c in enumerate(contents)
        ],
        return_exceptions=True,
    )
    for container in containers:
        await container.generation.drain()

    started = [r for r in results if isinstance(r, GenerationJob)]
    refused = [r for r in results if isinstance(r, UsageLimitExceeded)]
    assert (len(started), len(refused)) == (3, 17), [r for r in results if isinstance(r, Exception)]
    assert {(e.params["scope"], e.params["kind"]) for e in refused} == {("workspace", "requests")}
    assert await GenerationJob.filter(status=JobStatus.SUCCEEDED).count() == 5
    refused_ids = {
        c.id for c, r in zip(contents, results, strict=True) if not isinstance(r, GenerationJob)
    }
    assert await Content.filter(id__in=refused_ids, status=ContentStatus.DRAFT).count() == 17
    await assert_nothing_held()


async def reservation_size(services: Services, world: World) -> tuple[int, Decimal]:
    """Tokens and cost one generation of a standard content reserves (measured on a first one)."""
    content = await new_content(services, world)
    job = await services.generation.start(
        actor=await principal_for(world.writer), content_id=content.id
    )
    reservation = await UsageReservation.get(job_id=job.id)
    await services.generation.drain()
    return reservation.tokens, reservation.cost_usd


@pytest.mark.parametrize("instances", [1, 2])
@pytest.mark.parametrize("kind", ["tokens", "cost"])
async def test_token_and_cost_caps_hold_under_concurrency(
    build: Build, world: World, instances: int, kind: str
) -> None:
    # gpt-4o: a priced model, so the cost cap binds.
    llms = [ScriptedLlm(model="gpt-4o") for _ in range(instances)]
    containers = [build(llm=llm) for llm in llms]
    tokens, worst_cost = await reservation_size(containers[0], world)
    used = await UsageCounter.get(
        scope=UsageScope.USER, scope_id=world.writer.id, period=UsagePeriod.DAILY
    )
    # Room for exactly three more worst-case reservations after what the first one used.
    if kind == "tokens":
        caps: dict[str, Any] = {"tokens_limit": used.tokens + 3 * tokens + tokens // 2}
    else:
        caps = {"cost_limit_usd": used.cost_usd + 3 * worst_cost + worst_cost / 2}
    await set_limit(world, UsageScope.USER, world.writer.id, UsagePeriod.DAILY, **caps)
    contents = [await new_content(containers[0], world) for _ in range(20)]
    for llm in llms:
        llm.hold()  # nothing settles (and frees its unused worst case) while the others reserve

    results = await asyncio.gather(
        *[
            containers[i % instances].generation.start(
                actor=await principal_for(world.writer), content_id=c.id
            )
            for i, c in enumerate(contents)
        ],
        return_exceptions=True,
    )
    for llm in llms:
        llm.release()
    for container in containers:
        await container.generation.drain()

    started = [r for r in results if isinstance(r, GenerationJob)]
    refused = [r for r in results if isinstance(r, UsageLimitExceeded)]
    assert (len(started), len(refused)) == (3, 17), [r for r in results if isinstance(r, Exception)]
    assert {(e.params["scope"], e.params["kind"]) for e in refused} == {("user", kind)}
    await assert_nothing_held()


# --- failures ----------------------------------------------------------------------------------


async def test_a_model_500_releases_the_reservation(
    build: Build, world: World, fake: FakeOpenAI
) -> None:
    notifier = InMemoryNotifier()
    services = build(llm=openai_client(fake), notifier=notifier)
    content = await new_content(services, world)
    fake.fail_next(3, 500)  # the first try and both retries

    job = await generate(services, world, content)

    assert (job.status, job.error, job.params["error_reason"]) == (
        JobStatus.FAILED,
        "llm_unavailable",
        "server_error",
    )
    assert len(fake.requests) == 3
    assert (await Content.get(id=content.id)).status == ContentStatus.DRAFT
    assert await ContentVersion.filter(content_id=content.id).count() == 1
    assert (await UsageReservation.get(job_id=job.id)).status == ReservationStatus.RELEASED
    assert await UsageLog.all().count() == 0
    for c in await UsageCounter.all():
        assert (c.requests, c.tokens, c.cost_usd) == (0, 0, 0)
    assert notifier.events[-1][1]["ok"] is False
    await assert_nothing_held()


async def test_a_model_timeout_releases_the_reservation(
    build: Build, world: World, fake: FakeOpenAI
) -> None:
    services = build(llm=openai_client(fake, timeout_seconds=0.2))
    content = await new_content(services, world)
    fake.initial_delay = 30  # far beyond the client's read timeout

    job = await generate(services, world, content)

    assert (job.status, job.error, job.params["error_reason"]) == (
        JobStatus.FAILED,
        "llm_unavailable",
        "timeout",
    )
    assert (await UsageReservation.get(job_id=job.id)).status == ReservationStatus.RELEASED
    assert await UsageLog.all().count() == 0
    await assert_nothing_held()


async def test_a_broken_stream_charges_what_arrived(
    build: Build, world: World, fake: FakeOpenAI
) -> None:
    services = build(llm=openai_client(fake))
    content = await new_content(services, world)
    fake.answer = "Twelve chars" * 10
    fake.cut_after_chunks = 3  # 3 chunks of 4 characters, then the connection drops

    job = await generate(services, world, content)

    assert (job.status, job.error) == (JobStatus.FAILED, "llm_stream_broken")
    reservation = await UsageReservation.get(job_id=job.id)
    assert reservation.status == ReservationStatus.SETTLED
    log = await UsageLog.get(job_id=job.id)
    # No usage report arrived: the reserved prompt estimate plus the received text's estimate.
    expected = Usage(
        prompt_tokens=job.params["prompt_tokens_estimate"],
        completion_tokens=estimate_tokens("Twelve chars"),
    )
    assert (log.success, log.error, log.prompt_tokens, log.completion_tokens) == (
        False,
        "llm_stream_broken",
        expected.prompt_tokens,
        expected.completion_tokens,
    )
    assert log.cost_usd == cost(expected, "gpt-4o-mini") > 0
    assert log.cost_usd <= reservation.cost_usd and log.total_tokens <= reservation.tokens
    for c in await UsageCounter.all():
        assert (c.requests, c.tokens, c.cost_usd) == (1, log.total_tokens, log.cost_usd)
    # What arrived was paid for: it is kept, as a version marked incomplete, and the job
    # points at it.
    content = await Content.get(id=content.id)
    assert (content.status, content.body) == (ContentStatus.DRAFT, "Twelve chars")
    kept = await ContentVersion.get(content_id=content.id, number=content.version_count)
    assert (kept.body, kept.incomplete, kept.job_id) == ("Twelve chars", True, job.id)
    assert job.version_number == kept.number
    assert not (await ContentVersion.get(content_id=content.id, number=1)).incomplete
    await assert_nothing_held()


async def test_a_broken_streams_estimate_is_capped_at_the_reservation(
    build: Build, world: World, fake: FakeOpenAI
) -> None:
    """More text arrived than ``max_tokens`` allows (the estimate overcounts; a model may too):
    the charge stops at what was reserved."""
    services = build(llm=openai_client(fake), llm_max_output_tokens=10)
    content = await new_content(services, world)
    fake.answer = "x" * 400
    fake.cut_after_chunks = 20  # 80 characters, an estimate of 80 tokens

    job = await generate(services, world, content)

    assert (job.status, job.error, job.params["max_tokens"]) == (
        JobStatus.FAILED,
        "llm_stream_broken",
        10,
    )
    reservation = await UsageReservation.get(job_id=job.id)
    log = await UsageLog.get(job_id=job.id)
    assert (log.prompt_tokens, log.completion_tokens) == (
        job.params["prompt_tokens_estimate"],
        10,
    )
    assert log.total_tokens == reservation.tokens
    assert log.cost_usd <= reservation.cost_usd
    await assert_nothing_held()


async def test_an_answer_without_a_usage_report_is_charged_by_estimate(
    build: Build, world: World, fake: FakeOpenAI
) -> None:
    services = build(llm=openai_client(fake))
    content = await new_content(services, world)
    fake.answer = "A fine answer."
    fake.omit_usage = True

    job = await generate(services, world, content)

    assert job.status == JobStatus.SUCCEEDED
    log = await UsageLog.get(job_id=job.id)
    assert log.completion_tokens == estimate_tokens("A fine answer.")
    assert log.prompt_tokens == job.params["prompt_tokens_estimate"]
    assert (await Content.get(id=content.id)).body == "A fine answer."


async def test_a_failure_returns_rejected_content_to_rejected(build: Build, world: World) -> None:
    services = build(llm=ScriptedLlm(fail_before_first=True))
    content = await new_content(services, world)
    await services.content.submit(actor=await principal_for(world.writer), content_id=content.id)
    await services.content.reject(
        actor=await principal_for(world.editor), content_id=content.id, reason="Too short"
    )

    job = await generate(services, world, content)

    assert (job.status, job.error) == (JobStatus.FAILED, "llm_unavailable")
    assert (await Content.get(id=content.id)).status == ContentStatus.REJECTED
    await assert_nothing_held()


async def test_an_empty_answer_fails_and_is_charged(build: Build, world: World) -> None:
    services = build(llm=ScriptedLlm(answer="   "))
    content = await new_content(services, world)

    job = await generate(services, world, content)

    assert (job.status, job.error) == (JobStatus.FAILED, "llm_empty_answer")
    assert (await UsageLog.get(job_id=job.id)).success is False
    assert await ContentVersion.filter(content_id=content.id).count() == 1
    await assert_nothing_held()


# --- liveness and recovery --------------------------------------------------------------------


async def test_a_dead_processs_job_is_reaped_and_a_late_answer_is_still_charged(
    build: Build, world: World, clock: FrozenClock
) -> None:
    llm = ScriptedLlm()
    process_a, process_b = build(llm=llm), build(llm=ScriptedLlm())
    content = await new_content(process_a, world)
    llm.hold()
    job = await process_a.generation.start(
        actor=await principal_for(world.writer), content_id=content.id
    )
    await llm.wait_for_first_chunks(1)
    clock.advance(hours=1)

    # Its own process knows it is alive; another process sees only the old heartbeat.
    assert await process_a.generation.reap_stale_jobs(older_than=timedelta(minutes=10)) == 0
    assert await process_b.generation.reap_stale_jobs(older_than=timedelta(minutes=10)) == 1

    reaped = await GenerationJob.get(id=job.id)
    assert (reaped.status, reaped.error) == (JobStatus.FAILED, "job_abandoned")
    assert (await Content.get(id=content.id)).status == ContentStatus.DRAFT
    assert (await UsageReservation.get(job_id=job.id)).status == ReservationStatus.RELEASED
    llm.release()
    await process_a.generation.drain()

    # The call went on and consumed tokens: charged, but no version and the job stays failed.
    assert (await GenerationJob.get(id=job.id)).status == JobStatus.FAILED
    assert await ContentVersion.filter(content_id=content.id).count() == 1
    log = await UsageLog.get(job_id=job.id)
    assert (log.success, log.error) == (False, "job_abandoned")
    counter = await UsageCounter.get(
        scope=UsageScope.USER, scope_id=world.writer.id, period=UsagePeriod.DAILY
    )
    assert (counter.requests, counter.tokens) == (1, log.total_tokens)
    await assert_nothing_held()


async def test_fresh_jobs_are_not_reaped(build: Build, world: World, clock: FrozenClock) -> None:
    llm = ScriptedLlm()
    process_a, process_b = build(llm=llm), build(llm=ScriptedLlm())
    content = await new_content(process_a, world)
    llm.hold()
    job = await process_a.generation.start(
        actor=await principal_for(world.writer), content_id=content.id
    )
    await llm.wait_for_first_chunks(1)
    clock.advance(minutes=5)

    assert await process_b.generation.reap_stale_jobs(older_than=timedelta(minutes=10)) == 0

    llm.release()
    await process_a.generation.drain()
    assert (await GenerationJob.get(id=job.id)).status == JobStatus.SUCCEEDED


@pytest.mark.postgres
async def test_a_job_that_beats_while_the_reaper_looks_is_not_reaped(
    build: Build, world: World, clock: FrozenClock, database_url: str
) -> None:
    """The reaper found the job stale, but its process beat before the reaper's UPDATE ran:
    the UPDATE re-checks the heartbeat, so the live job is left alone. Forced: the beat holds
    the job's row until the reaper waits on it."""
    llm = ScriptedLlm()
    process_a, process_b = build(llm=llm), build(llm=ScriptedLlm())
    content = await new_content(process_a, world)
    llm.hold()
    job = await process_a.generation.start(
        actor=await principal_for(world.writer), content_id=content.id
    )
    await llm.wait_for_first_chunks(1)
    clock.advance(hours=1)

    async with locking_session(database_url) as beat:
        await beat.execute(
            "UPDATE generation_jobs SET heartbeat_at = $1 WHERE id = $2", clock.now(), job.id
        )
        reaper = asyncio.ensure_future(
            process_b.generation.reap_stale_jobs(older_than=timedelta(minutes=10))
        )
        await beat.wait_until_blocking(1, unless=reaper)
        await beat.commit()
    assert await reaper == 0

    running = await GenerationJob.get(id=job.id)
    assert (running.status, running.heartbeat_at) == (JobStatus.RUNNING, clock.now())
    assert (await UsageReservation.get(job_id=job.id)).status == ReservationStatus.HELD
    llm.release()
    await process_a.generation.drain()
    assert (await GenerationJob.get(id=job.id)).status == JobStatus.SUCCEEDED
    await assert_nothing_held()


async def test_the_heartbeat_moves_while_the_answer_streams(
    build: Build, world: World, clock: FrozenClock
) -> None:
    llm = ScriptedLlm(answer="x" * 64, chunk_chars=8)
    services = build(llm=llm)
    # Beat on every chunk here; the product throttles to one write per HEARTBEAT_SECONDS.
    services.generation._heartbeat_seconds = 0
    content = await new_content(services, world)
    llm.hold()
    job = await services.generation.start(
        actor=await principal_for(world.writer), content_id=content.id
    )
    await llm.wait_for_stalls(1)  # the first chunk arrived; the stream waits for the second
    started = (await GenerationJob.get(id=job.id)).heartbeat_at

    # Observed mid-stream, before the job ends (the end writes heartbeat_at too).
    for step in range(1, 4):
        clock.advance(minutes=3)
        await llm.allow(1)
        await llm.wait_for_stalls(1 + step)  # the chunk arrived and its beat was written
        running = await GenerationJob.get(id=job.id)
        assert running.status == JobStatus.RUNNING
        assert running.heartbeat_at == clock.now() > started

    llm.release()
    await services.generation.drain()
    assert (await GenerationJob.get(id=job.id)).status == JobStatus.SUCCEEDED


async def test_closing_the_service_fails_running_jobs_cleanly(build: Build, world: World) -> None:
    llm = ScriptedLlm()
    services = build(llm=llm)
    content = await new_content(services, world)
    llm.hold()
    job = await services.generation.start(
        actor=await principal_for(world.writer), content_id=content.id
    )
    await llm.wait_for_first_chunks(1)

    await services.generation.aclose()

    job = await GenerationJob.get(id=job.id)
    assert (job.status, job.error) == (JobStatus.FAILED, "generation_cancelled")
    # One chunk had arrived: it is charged.
    assert (await UsageLog.get(job_id=job.id)).completion_tokens == estimate_tokens(llm.answer[:8])
    await assert_nothing_held()


async def test_winding_down_lets_running_jobs_finish_and_refuses_new_ones(
    build: Build, world: World
) -> None:
    llm = ScriptedLlm()
    services = build(llm=llm)
    content, other = await new_content(services, world), await new_content(services, world)
    llm.hold()
    job = await services.generation.start(
        actor=await principal_for(world.writer), content_id=content.id
    )
    await llm.wait_for_first_chunks(1)

    winding = asyncio.create_task(services.generation.wind_down(grace_seconds=3600))
    await asyncio.sleep(0)  # it has begun: new jobs are refused from here on
    with pytest.raises(ServiceUnavailable) as refused:
        await services.generation.start(
            actor=await principal_for(world.writer), content_id=other.id
        )
    assert refused.value.code == "shutting_down"
    llm.release()

    assert await winding == 0  # none had to be cancelled
    finished = await GenerationJob.get(id=job.id)
    assert (finished.status, finished.error) == (JobStatus.SUCCEEDED, None)
    assert (await Content.get(id=other.id)).status == ContentStatus.DRAFT
    await assert_nothing_held()


async def test_a_job_outliving_the_grace_keeps_its_text_as_an_incomplete_version(
    build: Build, world: World
) -> None:
    llm = ScriptedLlm(answer="x" * 64, chunk_chars=8)
    services = build(llm=llm)
    content = await new_content(services, world)
    llm.hold()  # the stream stalls after its first chunk, past any grace
    job = await services.generation.start(
        actor=await principal_for(world.writer), content_id=content.id
    )
    await llm.wait_for_first_chunks(1)

    assert await services.generation.wind_down(grace_seconds=0) == 1

    cancelled = await GenerationJob.get(id=job.id)
    assert (cancelled.status, cancelled.error) == (JobStatus.FAILED, "generation_cancelled")
    kept = await ContentVersion.get(content_id=content.id, number=cancelled.version_number)
    assert (kept.body, kept.incomplete) == ("x" * 8, True)
    assert (await Content.get(id=content.id)).status == ContentStatus.DRAFT
    # Billed for exactly what was kept.
    log = await UsageLog.get(job_id=job.id)
    assert log.completion_tokens == estimate_tokens(kept.body)
    await assert_nothing_held()


# --- reading jobs --------------------------------------------------------------------------------


async def test_a_job_is_visible_to_its_requester_and_editors_only(
    build: Build, world: World
) -> None:
    services = build(llm=ScriptedLlm())
    content = await new_content(services, world)
    job = await generate(services, world, content)
    other_writer = await add_member(world.org, Role.WRITER)
    outsider = await add_member(await make_org(), Role.ADMIN)

    for reader in (world.writer, world.editor, world.roles[Role.ADMIN]):
        view = await services.generation.get_job(actor=await principal_for(reader), job_id=job.id)
        assert view.job.id == job.id
        assert view.usage is not None and view.usage.job_id == job.id
    for stranger in (other_writer, world.roles[Role.VIEWER], outsider):
        with pytest.raises(NotFound):
            await services.generation.get_job(actor=await principal_for(stranger), job_id=job.id)
    with pytest.raises(NotFound):
        await services.generation.get_job(
            actor=await principal_for(world.writer), job_id=job.id + 1000
        )


# --- a job touches its content only while it is the current one -------------------------------


async def test_a_reaped_job_answering_late_leaves_the_newer_job_alone(
    build: Build, world: World, clock: FrozenClock
) -> None:
    old_llm, new_llm = ScriptedLlm(answer="old answer"), ScriptedLlm(answer="new answer")
    process_a, process_b = build(llm=old_llm), build(llm=new_llm)
    content = await new_content(process_a, world)
    old_llm.hold()
    old = await process_a.generation.start(
        actor=await principal_for(world.writer), content_id=content.id
    )
    await old_llm.wait_for_first_chunks(1)
    clock.advance(hours=1)
    assert await process_b.generation.reap_stale_jobs(older_than=timedelta(minutes=10)) == 1
    new_llm.hold()
    new = await process_b.generation.start(
        actor=await principal_for(world.writer), content_id=content.id
    )
    await new_llm.wait_for_first_chunks(1)
    assert (await Content.get(id=content.id)).current_job_id == new.id

    old_llm.release()  # the reaped job answers late
    await process_a.generation.drain()

    current = await Content.get(id=content.id)
    assert (current.status, current.current_job_id) == (ContentStatus.GENERATING, new.id)
    assert (await GenerationJob.get(id=old.id)).status == JobStatus.FAILED
    assert (await UsageLog.get(job_id=old.id)).error == "job_abandoned"  # still charged
    new_llm.release()
    await process_b.generation.drain()
    finished = await GenerationJob.get(id=new.id)
    assert (finished.status, finished.error) == (JobStatus.SUCCEEDED, None)
    final = await Content.get(id=content.id)
    assert (final.status, final.body, final.current_job_id) == (
        ContentStatus.DRAFT,
        "new answer",
        None,
    )
    await assert_nothing_held()


async def test_the_jobs_of_a_process_whose_lease_expired_are_reaped_at_once(
    build: Build, world: World, clock: FrozenClock
) -> None:
    """No heartbeat age to wait out: the owner's lease lapsed, so its job is dead."""
    dying_llm = ScriptedLlm()
    # Leases as rows (no Redis), so the frozen clock decides when one lapses; the fault suite
    # (tests/faults) covers leases in Redis with a real kill -9.
    dying, survivor = build(llm=dying_llm, redis_url=None), build(llm=ScriptedLlm(), redis_url=None)
    content = await new_content(dying, world)
    dying_llm.hold()
    job = await dying.generation.start(
        actor=await principal_for(world.writer), content_id=content.id
    )
    await dying_llm.wait_for_first_chunks(1)
    assert (await GenerationJob.get(id=job.id)).owner == dying.generation.instance_id

    # Alive: its lease runs, so nothing is reaped however old the heartbeat.
    assert await survivor.generation.reap_orphaned_jobs() == 0
    # Dead (kill -9): it stops renewing, and the lease lapses.
    renewing = dying.generation._leases._renewing
    assert renewing is not None
    renewing.cancel()
    clock.advance(seconds=16)

    assert await survivor.generation.reap_orphaned_jobs() == 1

    reaped = await GenerationJob.get(id=job.id)
    assert (reaped.status, reaped.error) == (JobStatus.FAILED, "job_abandoned")
    assert (await Content.get(id=content.id)).status == ContentStatus.DRAFT
    assert (await UsageReservation.get(job_id=job.id)).status == ReservationStatus.RELEASED
    dying_llm.release()
    await dying.generation.drain()  # the dead call answering late is charged, touches nothing
    await assert_nothing_held()


async def test_the_author_unlocks_a_content_whose_job_died_and_is_told_when_otherwise(
    build: Build, world: World, clock: FrozenClock
) -> None:
    dying_llm = ScriptedLlm()
    dying, survivor = build(llm=dying_llm, redis_url=None), build(llm=ScriptedLlm(), redis_url=None)
    content = await new_content(dying, world)
    dying_llm.hold()
    job = await dying.generation.start(
        actor=await principal_for(world.writer), content_id=content.id
    )
    await dying_llm.wait_for_first_chunks(1)

    # Alive and fresh: not yet, and the answer says how long until it may be.
    with pytest.raises(Conflict) as early:
        await survivor.generation.unlock(
            actor=await principal_for(world.writer), content_id=content.id
        )
    assert early.value.code == "generation_still_running"
    assert early.value.params["retry_after"] == 120
    # Someone who may not even see the draft learns nothing.
    with pytest.raises(NotFound):
        await survivor.generation.unlock(
            actor=await principal_for(world.roles[Role.VIEWER]), content_id=content.id
        )

    renewing = dying.generation._leases._renewing
    assert renewing is not None
    renewing.cancel()  # the owner dies; its lease lapses well before the grace would
    clock.advance(seconds=16)
    unlocked = await survivor.generation.unlock(
        actor=await principal_for(world.writer), content_id=content.id
    )

    assert (unlocked.status, unlocked.current_job_id) == (ContentStatus.DRAFT, None)
    assert (await GenerationJob.get(id=job.id)).error == "job_abandoned"
    with pytest.raises(Conflict) as again:
        await survivor.generation.unlock(
            actor=await principal_for(world.writer), content_id=content.id
        )
    assert again.value.code == "not_generating"
    dying_llm.release()
    await dying.generation.drain()
    await assert_nothing_held()


async def test_a_job_of_this_process_showing_no_life_past_the_grace_is_unlocked(
    build: Build, world: World, clock: FrozenClock
) -> None:
    llm = ScriptedLlm()
    services = build(llm=llm)
    content = await new_content(services, world)
    llm.hold()
    job = await services.generation.start(
        actor=await principal_for(world.writer), content_id=content.id
    )
    await llm.wait_for_first_chunks(1)
    clock.advance(seconds=121)

    unlocked = await services.generation.unlock(
        actor=await principal_for(world.writer), content_id=content.id
    )

    assert unlocked.status == ContentStatus.DRAFT
    assert (await GenerationJob.get(id=job.id)).status == JobStatus.FAILED
    await assert_nothing_held()


async def test_a_failure_whose_first_writes_fail_is_retried_not_left_to_the_reaper(
    build: Build, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = build(llm=ScriptedLlm(fail_before_first=True))
    content = await new_content(services, world)
    real_abort = services.content.abort_generation
    blips = 2

    async def flaky_abort(**kw: Any) -> bool:
        nonlocal blips
        if blips:
            blips -= 1
            raise ConnectionError("database blip")
        return await real_abort(**kw)

    monkeypatch.setattr(services.content, "abort_generation", flaky_abort)

    job = await generate(services, world, content)

    assert blips == 0
    assert job.status == JobStatus.FAILED
    assert (await Content.get(id=content.id)).status == ContentStatus.DRAFT
    assert (await UsageReservation.get(job_id=job.id)).status == ReservationStatus.RELEASED
    await assert_nothing_held()


async def test_a_database_outage_mid_stream_neither_ends_the_stream_nor_loses_the_answer(
    build: Build, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every heartbeat fails and the first conclusions find no database: the answer lands."""
    llm = ScriptedLlm(answer="x" * 64, chunk_chars=8)
    services = build(llm=llm)
    services.generation._heartbeat_seconds = 0  # a beat per chunk, each one failing
    content = await new_content(services, world)
    beats = 0

    async def dead_beat(job_id: int) -> None:
        nonlocal beats
        beats += 1
        raise ConnectionRefusedError("database is down")

    real_finish = services.content.finish_generation
    refusals = 3

    async def finish_once_back(**kw: Any) -> Any:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise ConnectionRefusedError("database is down")
        return await real_finish(**kw)

    monkeypatch.setattr(services.generation, "_beat", dead_beat)
    monkeypatch.setattr(services.content, "finish_generation", finish_once_back)

    job = await generate(services, world, content)

    assert beats == 8 and refusals == 0
    assert (job.status, job.error) == (JobStatus.SUCCEEDED, None)
    assert (await Content.get(id=content.id)).body == "x" * 64
    await assert_nothing_held()


async def test_a_conclusion_failing_for_a_bug_fails_the_job_without_waiting_out_an_outage(
    build: Build, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = build(llm=ScriptedLlm())
    services.generation._conclude_patience_seconds = 3600  # a bug must not wait this out
    content = await new_content(services, world)
    calls = 0

    async def broken_finish(**kw: Any) -> Any:
        nonlocal calls
        calls += 1
        raise ValueError("a bug, not an outage")

    monkeypatch.setattr(services.content, "finish_generation", broken_finish)

    job = await generate(services, world, content)

    assert calls == 4  # FAIL_ATTEMPTS, then the job is failed instead
    assert (job.status, job.error) == (JobStatus.FAILED, "generation_failed")
    assert (await Content.get(id=content.id)).status == ContentStatus.DRAFT
    await assert_nothing_held()


async def test_the_answer_is_scanned_for_pii_once_and_outside_any_transaction(
    build: Build, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tortoise import connections
    from tortoise.backends.base.client import TransactionalDBClient

    import core.services.content as content_module

    phone = "09121234567"
    services = build(llm=ScriptedLlm(answer=f"Call {phone} today."))
    content = await new_content(services, world)
    scans: list[tuple[str, bool]] = []
    real_scan = content_module.scan

    def spy(text: str) -> dict[str, int]:
        # asyncio.to_thread copies the context: the caller's open transaction shows here.
        in_tx = isinstance(connections.get("default"), TransactionalDBClient)
        scans.append((text, in_tx))
        return real_scan(text)

    monkeypatch.setattr(content_module, "scan", spy)

    job = await generate(services, world, content)

    assert job.status == JobStatus.SUCCEEDED
    assert [in_tx for text, in_tx in scans if phone in text] == [False]
    assert (await Content.get(id=content.id)).pii_findings == {"phone": 1}
    scans.clear()
    await services.content.update(
        actor=await principal_for(world.writer), content_id=content.id, body="بی‌شماره"
    )
    assert [in_tx for _, in_tx in scans] == [False]


async def test_a_prompt_of_another_organisation_is_never_used(build: Build, world: World) -> None:
    llm = ScriptedLlm()
    services = build(llm=llm)
    foreign = await make_org()
    secret = await Prompt.create(
        organization=foreign,
        title="Theirs",
        kind=GenerationKind.OUTLINE,
        template="FOREIGN TEMPLATE TEXT",
        variables=[],
        language=Language.EN,
    )
    content = await new_content(services, world)
    await Content.filter(id=content.id).update(prompt_id=secret.id)

    job = await generate(services, world, content)

    assert job.status == JobStatus.SUCCEEDED
    assert job.kind == GenerationKind.DRAFT  # not the foreign prompt's kind
    assert all("FOREIGN TEMPLATE TEXT" not in m.content for m in llm.requests[0])
