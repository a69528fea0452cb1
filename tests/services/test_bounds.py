"""Bounds on what one request can make the server do, and characters no text may hold.

The amplification case (issue: a placeholder repeated 2,000 times with 20,000-character values
rendered 40 MB before the usage check) is refused from sizes alone; bench/amplification.py
measures time and memory. No timing here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from core.clock import FrozenClock
from core.container import Services, build_services
from core.errors import InvalidInput, NotFound
from core.llm.pricing import estimate_tokens
from core.services.common import Listing
from core.services.prompts import MAX_RENDERED_CHARS, PromptVariable, check_template
from core.services.usage import UsageLimitExceeded
from core.settings import Settings
from core.text.templating import render, rendered_size
from db.models import (
    Content,
    ContentStatus,
    GenerationJob,
    Organization,
    Project,
    Prompt,
    Role,
    UsageCounter,
    UsageLimit,
    UsagePeriod,
    UsageScope,
    User,
    Workspace,
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

LONG = 20_000


@dataclass
class World:
    org: Organization
    writer: User
    editor: User
    admin: User
    workspace: Workspace
    project: Project


@pytest.fixture
async def world(db: str) -> World:
    org = await make_org()
    workspace = await make_workspace(org)
    return World(
        org=org,
        writer=await add_member(org, Role.WRITER),
        editor=await add_member(org, Role.EDITOR),
        admin=await add_member(org, Role.ADMIN),
        workspace=workspace,
        project=await make_project(workspace),
    )


@pytest.fixture
async def build(
    settings: Settings, clock: FrozenClock, db: str
) -> AsyncIterator[Callable[..., Services]]:
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


async def amplifying_prompt(world: World, copies: int = 2_000) -> Prompt:
    """A prompt stored as a prompt saved before the bound existed could be."""
    return await Prompt.create(
        organization=world.org,
        title="Echo",
        template=" ".join(["{x}"] * copies),
        variables=[{"name": "x", "label": "X", "type": "long_text", "required": True}],
    )


async def assert_no_work_done(llm: ScriptedLlm) -> None:
    assert llm.requests == []
    assert await GenerationJob.all().count() == 0
    assert await UsageCounter.all().count() == 0
    assert await Content.filter(status=ContentStatus.GENERATING).count() == 0


# --- sizes computed without rendering -------------------------------------------------------


def test_rendered_size_counts_every_copy_of_a_placeholder_and_matches_render() -> None:
    template = "a {x} b {x}{y} {z} {{x}}"
    values = {"x": "12345", "y": "ضصث"}
    expected = render(template, values, values.keys())
    assert rendered_size(
        template, values.keys(), literal=len, value={k: len(v) for k, v in values.items()}
    ) == len(expected)
    assert rendered_size(
        template,
        values.keys(),
        literal=estimate_tokens,
        value={k: estimate_tokens(v) for k, v in values.items()},
    ) == estimate_tokens(expected)


def test_a_template_is_bounded_by_its_variables_declared_lengths() -> None:
    long_text = PromptVariable(name="x", label="X", type="long_text")
    short = PromptVariable(name="x", label="X", type="text", max_length=10)
    choice = PromptVariable(name="x", label="X", type="choice", choices=["a", "bbbb"])

    assert check_template("{x} {x} {x}", [long_text])  # 60,002 characters at most
    with pytest.raises(InvalidInput) as refused:
        check_template(" ".join(["{x}"] * 2_000), [long_text])
    assert refused.value.code == "template_too_large"
    assert refused.value.params["max_chars"] == MAX_RENDERED_CHARS
    assert refused.value.params["chars"] == 2_000 * LONG + 1_999
    assert check_template(" ".join(["{x}"] * 2_000), [short])  # 21,999
    assert check_template(" ".join(["{x}"] * 2_000), [choice])  # 9,999
    with pytest.raises(InvalidInput):
        check_template(" ".join(["{x}"] * 2_000), [short], max_rendered_chars=20_000)


async def test_saving_a_prompt_refuses_a_template_that_could_render_too_much(
    build: Callable[..., Services], world: World
) -> None:
    services = build()
    variables = [{"name": "x", "label": "X", "type": "text", "max_length": 40}]
    with pytest.raises(InvalidInput) as refused:
        await services.prompts.create_prompt(
            actor=await principal_for(world.editor),
            organization_id=world.org.id,
            title="Echo",
            template=" ".join(["{x}"] * 3_000),
            variables=variables,
        )
    assert refused.value.code == "template_too_large"

    prompt = await services.prompts.create_prompt(
        actor=await principal_for(world.editor),
        organization_id=world.org.id,
        title="Echo",
        template=" ".join(["{x}"] * 2_000),
        variables=variables,
    )
    # Raising the declared length later is the same amplification: refused as well.
    with pytest.raises(InvalidInput) as refused:
        await services.prompts.update_prompt(
            actor=await principal_for(world.editor),
            prompt_id=prompt.id,
            variables=[{**variables[0], "max_length": 1_000}],
        )
    assert refused.value.code == "template_too_large"
    assert (await Prompt.get(id=prompt.id)).variables[0]["max_length"] == 40


async def test_the_setting_lowers_the_bound_for_saved_prompts(
    build: Callable[..., Services], world: World
) -> None:
    services = build(max_rendered_chars=5_000)
    with pytest.raises(InvalidInput) as refused:
        await services.prompts.create_prompt(
            actor=await principal_for(world.editor),
            organization_id=world.org.id,
            title="Echo",
            template="{x}",
            variables=[{"name": "x", "label": "X", "type": "long_text"}],
        )
    assert refused.value.code == "template_too_large"


# --- generate --------------------------------------------------------------------------------


async def test_the_amplifying_prompt_is_refused_before_anything_is_rendered_or_reserved(
    build: Callable[..., Services], world: World
) -> None:
    llm = ScriptedLlm()
    services = build(llm=llm)
    prompt = await amplifying_prompt(world)
    content = await services.content.create(
        actor=await principal_for(world.writer),
        project_id=world.project.id,
        title="t",
        body="b",
        prompt_id=prompt.id,
    )

    with pytest.raises(InvalidInput) as refused:
        await services.generation.start(
            actor=await principal_for(world.writer),
            content_id=content.id,
            variables={"x": "a" * LONG},
        )

    assert refused.value.code == "prompt_too_large"
    await assert_no_work_done(llm)
    # Small values fit: the bound is on what is rendered, not on the template.
    job = await services.generation.start(
        actor=await principal_for(world.writer), content_id=content.id, variables={"x": "ab"}
    )
    await services.generation.drain()
    assert (await GenerationJob.get(id=job.id)).error is None


async def test_estimated_tokens_are_bounded_too(
    build: Callable[..., Services], world: World
) -> None:
    llm = ScriptedLlm()
    services = build(llm=llm, max_rendered_tokens=1_000)
    prompt = await amplifying_prompt(world, copies=2)
    content = await services.content.create(
        actor=await principal_for(world.writer),
        project_id=world.project.id,
        title="t",
        body="b",
        prompt_id=prompt.id,
    )
    # 400 characters, but four bytes (the estimate's worst case) each: 3,200 tokens.
    with pytest.raises(InvalidInput) as refused:
        await services.generation.start(
            actor=await principal_for(world.writer),
            content_id=content.id,
            variables={"x": "😀" * 400},
        )
    assert refused.value.code == "prompt_too_large"
    await assert_no_work_done(llm)


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({f"v{i}": "x" for i in range(51)}, "too_many_values"),
        ({"x": "a" * (LONG + 1)}, "variable_too_long"),
        ({f"v{i}": "a" * LONG for i in range(6)}, "too_long"),
        ({"x\ud800": "a"}, "invalid_characters"),
        ({"x": "a\ud800"}, "invalid_characters"),
        ({"x": "bell\x07"}, "invalid_characters"),
    ],
)
async def test_generate_inputs_are_bounded_before_any_other_work(
    build: Callable[..., Services], world: World, variables: dict[str, Any], code: str
) -> None:
    llm = ScriptedLlm()
    services = build(llm=llm)
    content = await services.content.create(
        actor=await principal_for(world.writer), project_id=world.project.id, title="t", body="b"
    )
    # Even a person with no usage left gets the 400: these checks come first.
    await UsageLimit.create(
        organization=world.org,
        scope=UsageScope.ORGANIZATION,
        scope_id=world.org.id,
        period=UsagePeriod.DAILY,
        requests_limit=0,
    )
    with pytest.raises(InvalidInput) as refused:
        await services.generation.start(
            actor=await principal_for(world.writer), content_id=content.id, variables=variables
        )
    assert refused.value.code == code
    await assert_no_work_done(llm)


async def test_the_usage_limit_is_checked_before_the_prompt_is_rendered(
    build: Callable[..., Services], world: World
) -> None:
    llm = ScriptedLlm()
    services = build(llm=llm)
    prompt = await amplifying_prompt(world)
    content = await services.content.create(
        actor=await principal_for(world.writer),
        project_id=world.project.id,
        title="t",
        body="b",
        prompt_id=prompt.id,
    )
    await UsageLimit.create(
        organization=world.org,
        scope=UsageScope.WORKSPACE,
        scope_id=world.workspace.id,
        period=UsagePeriod.MONTHLY,
        requests_limit=0,
    )
    # Rendering would have refused this as too large; the 402 comes first, from sizes alone.
    with pytest.raises(UsageLimitExceeded) as refused:
        await services.generation.start(
            actor=await principal_for(world.writer),
            content_id=content.id,
            variables={"x": "a" * LONG},
        )
    assert refused.value.params["scope"] == "workspace"
    await assert_no_work_done(llm)


# --- characters ------------------------------------------------------------------------------


def test_token_estimation_never_crashes_on_a_lone_surrogate() -> None:
    assert estimate_tokens("a\ud800") == 4


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "esc\x1b[31m"},
        {"title": "x\ud800"},
        {"body": "bell\x07"},
        {"body": "x\udfff"},
        {"variables": {"k": "x\ud800"}},
        {"variables": {"k\ud800": "x"}},
        {"title": "\u200b\ufeff"},
    ],
)
async def test_content_refuses_control_characters_and_lone_surrogates(
    build: Callable[..., Services], world: World, fields: dict[str, Any]
) -> None:
    services = build()
    create = {"title": "t", "body": "b", **fields}
    with pytest.raises(InvalidInput) as refused:
        await services.content.create(
            actor=await principal_for(world.writer), project_id=world.project.id, **create
        )
    assert refused.value.code in ("invalid_characters", "title_required")
    content = await services.content.create(
        actor=await principal_for(world.writer),
        project_id=world.project.id,
        title="t",
        body="line\n\ttab",
    )
    with pytest.raises(InvalidInput):
        await services.content.update(
            actor=await principal_for(world.writer), content_id=content.id, **fields
        )
    assert (await Content.get(id=content.id)).body == "line\n\ttab"


@pytest.mark.parametrize(
    "variable",
    [
        {"name": "x", "label": "X", "default": "a\ud800"},
        {"name": "x", "label": "X", "type": "choice", "choices": ["a", "b\ud800"]},
        {"name": "x", "label": "X", "default": "esc\x1b"},
    ],
)
async def test_prompt_variables_refuse_lone_surrogates(
    build: Callable[..., Services], world: World, variable: dict[str, Any]
) -> None:
    services = build()
    with pytest.raises(InvalidInput) as refused:
        await services.prompts.create_prompt(
            actor=await principal_for(world.editor),
            organization_id=world.org.id,
            title="P",
            template="{x}",
            variables=[variable],
        )
    assert refused.value.code == "invalid_variables"


@pytest.mark.parametrize("name", ["\u200b", "\ufeff", " \u200c\u2060 ", "x\ud800", ""])
async def test_names_that_show_nothing_or_hold_surrogates_are_refused(
    build: Callable[..., Services], world: World, name: str
) -> None:
    services = build()
    with pytest.raises(InvalidInput):
        await services.catalog.create_workspace(
            actor=await principal_for(world.admin), organization_id=world.org.id, name=name
        )
    with pytest.raises(InvalidInput):
        await services.prompts.create_prompt(
            actor=await principal_for(world.editor),
            organization_id=world.org.id,
            title=name,
            template="t",
        )
    # ZWNJ inside a Persian name is spelling, not invisibility.
    workspace = await services.catalog.create_workspace(
        actor=await principal_for(world.admin), organization_id=world.org.id, name="نام‌خانوادگی"
    )
    assert workspace.name == "نام‌خانوادگی"


# --- retired workspaces and projects take their content with them ------------------------


@pytest.mark.parametrize("retire", ["workspace", "project"])
async def test_retired_workspace_or_project_content_is_gone_on_every_path(
    build: Callable[..., Services], world: World, retire: str
) -> None:
    llm = ScriptedLlm()
    services = build(llm=llm)
    content = await services.content.create(
        actor=await principal_for(world.writer), project_id=world.project.id, title="t", body="body"
    )
    if retire == "workspace":
        await services.catalog.delete_workspace(
            actor=await principal_for(world.admin), workspace_id=world.workspace.id
        )
    else:
        await services.catalog.delete_project(
            actor=await principal_for(world.admin), project_id=world.project.id
        )

    for actor in (world.writer, world.admin):
        with pytest.raises(NotFound):
            await services.content.get(actor=await principal_for(actor), content_id=content.id)
        assert await services.content.list_contents(actor=await principal_for(actor)) == Listing(
            count=0, items=[]
        )
    with pytest.raises(NotFound):
        await services.content.update(
            actor=await principal_for(world.writer), content_id=content.id, body="new"
        )
    with pytest.raises(NotFound):
        await services.content.submit(
            actor=await principal_for(world.writer), content_id=content.id
        )
    with pytest.raises(NotFound):
        await services.content.list_versions(
            actor=await principal_for(world.admin), content_id=content.id
        )
    with pytest.raises(NotFound):
        await services.content.delete(actor=await principal_for(world.admin), content_id=content.id)
    with pytest.raises(NotFound):
        await services.generation.start(
            actor=await principal_for(world.writer), content_id=content.id
        )
    with pytest.raises(NotFound):
        await services.content.list_contents(
            actor=await principal_for(world.admin), project_id=world.project.id
        )
    await assert_no_work_done(llm)
    assert (await Content.get(id=content.id)).body == "body"  # retired, not destroyed


async def test_a_retired_workspace_has_no_usage_limits_or_summary(
    build: Callable[..., Services], world: World
) -> None:
    services = build()
    await services.usage.set_limit(
        actor=await principal_for(world.admin),
        scope=UsageScope.WORKSPACE,
        scope_id=world.workspace.id,
        period=UsagePeriod.MONTHLY,
        requests_limit=5,
    )
    await services.catalog.delete_workspace(
        actor=await principal_for(world.admin), workspace_id=world.workspace.id
    )

    with pytest.raises(NotFound):
        await services.usage.summary(
            actor=await principal_for(world.admin),
            scope=UsageScope.WORKSPACE,
            scope_id=world.workspace.id,
            period=UsagePeriod.MONTHLY,
        )
    with pytest.raises(NotFound):
        await services.usage.set_limit(
            actor=await principal_for(world.admin),
            scope=UsageScope.WORKSPACE,
            scope_id=world.workspace.id,
            period=UsagePeriod.DAILY,
            requests_limit=1,
        )
    limits = await services.usage.list_limits(actor=await principal_for(world.admin))
    assert limits == Listing(count=0, items=[])
