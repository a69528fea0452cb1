"""Prompts: typed variables checked on save, values checked before rendering, the role matrix."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.clock import FrozenClock
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.notify import NullNotifier
from core.services.audit import AuditService
from core.services.content import ContentService
from core.services.prompts import (
    MAX_TEMPLATE_LENGTH,
    MAX_VARIABLES,
    PromptFilters,
    PromptService,
    VariableType,
    parse_variables,
    render_prompt,
    template_variables,
    validate_values,
)
from core.text.templating import placeholders
from db.models import GenerationKind, Language, Prompt, PromptCategory, Role, Workspace
from tests.support.factories import make_project, make_workspace, org_with_roles, principal_for
from tests.support.sessions import locking_session

pytestmark = pytest.mark.sqlite

TOPIC = {"name": "topic", "label": {"fa": "موضوع", "en": "Topic"}, "required": True}
TONE = {
    "name": "tone",
    "label": "لحن",
    "type": "choice",
    "choices": ["رسمی", "صمیمی"],
    "default": "صمیمی",
}
WORDS = {"name": "words", "label": "Words", "type": "number", "default": 300}


def prompt_of(template: str, *variables: dict[str, Any]) -> Prompt:
    """An unsaved prompt: validate_values and render_prompt need no database."""
    declared = [v.model_dump(mode="json") for v in parse_variables(list(variables))]
    return Prompt(template=template, variables=declared)


# -- declaring variables ------------------------------------------------------------------


def test_each_type_is_accepted_with_the_full_design_shape() -> None:
    declared = parse_variables(
        [
            TOPIC,
            TONE,
            WORDS,
            {"name": "body", "label": "Body", "type": "long_text", "max_length": 5000},
        ]
    )
    assert [v.type for v in declared] == [
        VariableType.TEXT,
        VariableType.CHOICE,
        VariableType.NUMBER,
        VariableType.LONG_TEXT,
    ]
    shape = declared[2].model_dump(mode="json")
    assert set(shape) == {
        "name",
        "label",
        "type",
        "required",
        "default",
        "choices",
        "max_length",
        "min_value",
        "max_value",
        "help",
    }
    assert shape["default"] == "300"  # numbers are rendered as text, so stored as text


@pytest.mark.parametrize("name", ["موضوع", "نام‌خانوادگی", "topic_2", "_x", "عنوان۲"])
def test_persian_and_underscore_names_are_identifiers(name: str) -> None:
    (variable,) = parse_variables([{"name": name, "label": "L"}])
    assert placeholders("{" + variable.name + "}") == [name]


@pytest.mark.parametrize(
    ("variable", "problem_field"),
    [
        ({"name": "2x", "label": "L"}, "variables.0.name"),
        ({"name": "a b", "label": "L"}, "variables.0.name"),
        ({"name": "x.y", "label": "L"}, "variables.0.name"),
        ({"name": "", "label": "L"}, "variables.0.name"),
        ({"name": "x", "label": ""}, "variables.0.label"),
        ({"name": "x", "label": {}}, "variables.0.label"),
        ({"name": "x", "label": "L", "type": "date"}, "variables.0.type"),
        ({"name": "x", "label": "L", "type": "choice"}, "variables.0"),
        ({"name": "x", "label": "L", "type": "choice", "choices": []}, "variables.0"),
        ({"name": "x", "label": "L", "choices": ["a"]}, "variables.0"),
        ({"name": "x", "label": "L", "type": "choice", "choices": ["a", " a"]}, "variables.0"),
        ({"name": "x", "label": "L", "type": "choice", "choices": ["علی", "علي"]}, "variables.0"),
        ({"name": "x", "label": "L", "type": "number", "max_length": 3}, "variables.0"),
        ({"name": "x", "label": "L", "max_length": 1001}, "variables.0"),
        ({"name": "x", "label": "L", "max_length": 0}, "variables.0.max_length"),
        ({"name": "x", "label": "L", "type": "number", "default": "many"}, "variables.0"),
        (
            {"name": "x", "label": "L", "type": "choice", "choices": ["a"], "default": "b"},
            "variables.0",
        ),
        ({"name": "x", "label": "L", "max_length": 3, "default": "abcd"}, "variables.0"),
        ({"name": "x", "label": "L", "default": True}, "variables.0.default"),
        ({"name": "x", "label": "L", "secret": 1}, "variables.0.secret"),
        ({"name": "x", "label": "a\x00"}, "variables.0.label"),
        ({"name": "x", "label": "L", "help": "\x1b[31m"}, "variables.0.help"),
        (
            {"name": "x", "label": "L", "type": "choice", "choices": ["a\x00"]},
            "variables.0.choices",
        ),
        ({"name": "x", "label": "L", "default": "a\x00"}, "variables.0"),
    ],
)
def test_bad_declarations_are_invalid_input_naming_the_field(
    variable: dict[str, Any], problem_field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_variables([variable])
    assert caught.value.code == "invalid_variables"
    fields = [p["field"] for p in caught.value.params["fields"]]
    assert any(f.startswith(problem_field) for f in fields), fields


def test_duplicate_names_too_many_and_non_lists_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_variables([TOPIC, {**TOPIC, "label": "again"}])
    assert (caught.value.code, caught.value.params) == ("duplicate_variable", {"name": "topic"})
    many = [{"name": f"v{i}", "label": "L"} for i in range(MAX_VARIABLES + 1)]
    with pytest.raises(InvalidInput, match="too_many_variables"):
        parse_variables(many)
    with pytest.raises(InvalidInput, match="invalid_variables"):
        parse_variables({"name": "x"})


# -- checking values ----------------------------------------------------------------------


def test_values_get_defaults_blank_optionals_and_ascii_numbers() -> None:
    prompt = prompt_of(
        "{topic} {tone} {words} {note}", TOPIC, TONE, WORDS, {"name": "note", "label": "N"}
    )
    values = validate_values(prompt, {"topic": "  قهوه  ", "words": "۱٬۲۰۰"})
    assert values == {"topic": "قهوه", "tone": "صمیمی", "words": "1200", "note": ""}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("۱۲", "12"), ("٣٫٥", "3.5"), ("-7", "-7"), (42, "42"), (2.5, "2.5"), ("1,000", "1000")],
)
def test_numbers_in_any_digits(raw: object, expected: str) -> None:
    prompt = prompt_of("{n}", {"name": "n", "label": "N", "type": "number", "required": True})
    assert validate_values(prompt, {"n": raw}) == {"n": expected}


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({}, "variable_required"),
        ({"topic": "   "}, "variable_required"),
        ({"topic": "x", "other": "y"}, "unknown_variable"),
        ({"topic": 5}, "variable_not_text"),
        ({"topic": "x" * 11}, "variable_too_long"),
        ({"topic": "x", "words": "دویست"}, "variable_not_a_number"),
        ({"topic": "x", "words": True}, "variable_not_a_number"),
        ({"topic": "x", "words": float("nan")}, "variable_not_a_number"),
        ({"topic": "x", "words": "1e9"}, "variable_not_a_number"),
        ({"topic": "x", "tone": "خشک"}, "variable_not_a_choice"),
        ({"topic": "x", "tone": ["رسمی"]}, "variable_not_text"),
        ({"topic": "a\x00b"}, "variable_invalid_characters"),
    ],
)
def test_bad_values_are_invalid_input_naming_the_variable(
    values: dict[str, object], code: str
) -> None:
    prompt = prompt_of("{topic}", {**TOPIC, "max_length": 10}, TONE, WORDS)
    with pytest.raises(InvalidInput) as caught:
        validate_values(prompt, values)
    assert caught.value.code == code
    assert caught.value.params["name"] in {"topic", "tone", "words", "other"}


def test_a_choice_typed_with_arabic_letters_picks_the_persian_one() -> None:
    prompt = prompt_of(
        "{who}", {"name": "who", "label": "W", "type": "choice", "choices": ["علی", "مریم"]}
    )
    assert validate_values(prompt, {"who": "علي"}) == {"who": "علی"}


@given(
    topic=st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=30).filter(
        str.strip
    ),
    words=st.integers(min_value=-(10**9), max_value=10**9),
    tone=st.sampled_from(["رسمی", "صمیمی", None]),
)
def test_checked_values_are_a_fixed_point(topic: str, words: int, tone: str | None) -> None:
    prompt = prompt_of("{topic}", {**TOPIC, "max_length": 40}, TONE, WORDS)
    once = validate_values(prompt, {"topic": topic, "words": words, "tone": tone})
    assert validate_values(prompt, once) == once


def test_render_inserts_values_verbatim_and_leaves_other_braces() -> None:
    prompt = prompt_of("بنویس: {topic} | {0} {x.y} {{topic}} {tone}", TOPIC, TONE)
    text = render_prompt(prompt, {"topic": "{tone} و {topic} ${x}"})
    assert text == "بنویس: {tone} و {topic} ${x} | {0} {x.y} {{topic}} صمیمی"


# -- the service --------------------------------------------------------------------------


async def make_prompt(service: PromptService, actor, org, **fields: Any) -> Prompt:
    data: dict[str, Any] = {
        "title": "Blog",
        "template": "درباره {topic} بنویس",
        "variables": [TOPIC],
    }
    return await service.create_prompt(
        actor=await principal_for(actor), organization_id=org.id, **{**data, **fields}
    )


async def test_editors_and_admins_write_every_member_reads(db: str) -> None:
    service = PromptService()
    org, members = await org_with_roles()
    prompt = await make_prompt(
        service,
        members[Role.EDITOR],
        org,
        category=PromptCategory.BLOG,
        kind=GenerationKind.OUTLINE,
        language=Language.EN,
    )
    assert (prompt.category, prompt.kind, prompt.language) == ("blog", "outline", "en")
    assert prompt.created_by_id == members[Role.EDITOR].id and not prompt.is_builtin
    await make_prompt(service, members[Role.ADMIN], org)
    for role in (Role.WRITER, Role.VIEWER):
        with pytest.raises(PermissionDenied):
            await make_prompt(service, members[role], org)
        with pytest.raises(PermissionDenied):
            await service.update_prompt(
                actor=await principal_for(members[role]), prompt_id=prompt.id, title="x"
            )
        with pytest.raises(PermissionDenied):
            await service.delete_prompt(
                actor=await principal_for(members[role]), prompt_id=prompt.id
            )
    for role in Role:
        got = await service.get_prompt(
            actor=await principal_for(members[role]), prompt_id=prompt.id
        )
        assert got.id == prompt.id


async def test_another_tenant_sees_nothing_and_cannot_write(db: str) -> None:
    service = PromptService()
    org, members = await org_with_roles()
    _, strangers = await org_with_roles()
    prompt = await make_prompt(service, members[Role.EDITOR], org)
    stranger = strangers[Role.ADMIN]
    for call in (
        service.get_prompt(actor=await principal_for(stranger), prompt_id=prompt.id),
        service.update_prompt(
            actor=await principal_for(stranger), prompt_id=prompt.id, title="mine"
        ),
        service.delete_prompt(actor=await principal_for(stranger), prompt_id=prompt.id),
        make_prompt(service, stranger, org),
        service.list_prompts(
            actor=await principal_for(stranger), filters=PromptFilters(organization_id=org.id)
        ),
    ):
        with pytest.raises(NotFound):
            await call
    listing = await service.list_prompts(actor=await principal_for(stranger))
    assert listing.count == 0 and listing.items == []


async def test_saving_checks_the_template_against_the_variables(db: str) -> None:
    service = PromptService()
    org, members = await org_with_roles()
    editor = members[Role.EDITOR]
    with pytest.raises(InvalidInput) as caught:
        await make_prompt(service, editor, org, template="{topic} برای {مخاطب} و {tone}")
    assert caught.value.code == "undeclared_variables"
    assert caught.value.params["variables"] == ["مخاطب", "tone"]
    with pytest.raises(InvalidInput, match="template_required"):
        await make_prompt(service, editor, org, template="  ")
    with pytest.raises(InvalidInput, match="invalid_characters"):  # PostgreSQL cannot store NUL
        await make_prompt(service, editor, org, template="{topic}\x00")
    with pytest.raises(InvalidInput, match="name_required"):
        await make_prompt(service, editor, org, title=" ")
    prompt = await make_prompt(service, editor, org, template="{topic} {0} {{x}}")
    with pytest.raises(InvalidInput, match="undeclared_variables"):
        await service.update_prompt(
            actor=await principal_for(editor), prompt_id=prompt.id, variables=[]
        )
    with pytest.raises(InvalidInput, match="undeclared_variables"):
        await service.update_prompt(
            actor=await principal_for(editor), prompt_id=prompt.id, template="{tone}"
        )
    updated = await service.update_prompt(
        actor=await principal_for(editor), prompt_id=prompt.id, template="{tone}", variables=[TONE]
    )
    assert updated.template == "{tone}" and [v["name"] for v in updated.variables] == ["tone"]
    assert updated.title == "Blog"  # untouched fields stay


async def test_workspace_prompts_are_usable_there_and_org_wide_ones_everywhere(db: str) -> None:
    service = PromptService()
    org, members = await org_with_roles()
    editor, writer = members[Role.EDITOR], members[Role.WRITER]
    here, there = await make_workspace(org), await make_workspace(org)
    org_wide = await make_prompt(service, editor, org, title="org-wide")
    local = await make_prompt(service, editor, org, title="here", workspace_id=here.id)
    await make_prompt(service, editor, org, title="there", workspace_id=there.id)

    listing = await service.list_prompts(
        actor=await principal_for(writer), filters=PromptFilters(workspace_id=here.id)
    )
    assert {p.title for p in listing.items} == {"org-wide", "here"} and listing.count == 2
    # Content uses them by the same rule: a workspace's own prompt only there.
    clock = FrozenClock()
    contents = ContentService(clock=clock, notifier=NullNotifier(), audit=AuditService(clock=clock))
    here_project, there_project = await make_project(here), await make_project(there)
    for prompt in (org_wide, local):
        made = await contents.create(
            actor=await principal_for(writer),
            project_id=here_project.id,
            title="t",
            prompt_id=prompt.id,
        )
        assert made.prompt_id == prompt.id
    with pytest.raises(NotFound):
        await contents.create(
            actor=await principal_for(writer),
            project_id=there_project.id,
            title="t",
            prompt_id=local.id,
        )
    other_org, others = await org_with_roles()
    foreign = await make_workspace(other_org)
    with pytest.raises(NotFound):
        await make_prompt(service, editor, org, workspace_id=foreign.id)
    with pytest.raises(NotFound):
        await service.update_prompt(
            actor=await principal_for(editor), prompt_id=local.id, workspace_id=foreign.id
        )
    with pytest.raises(NotFound):  # another organisation's content cannot use it either
        await contents.create(
            actor=await principal_for(others[Role.ADMIN]),
            project_id=(await make_project(foreign)).id,
            title="t",
            prompt_id=org_wide.id,
        )
    moved = await service.update_prompt(
        actor=await principal_for(editor), prompt_id=local.id, workspace_id=None
    )
    assert moved.workspace_id is None


async def test_lists_filter_and_count_only_what_the_actor_may_read(db: str) -> None:
    service = PromptService()
    org, members = await org_with_roles()
    other, others = await org_with_roles()
    for _ in range(3):
        await make_prompt(service, members[Role.EDITOR], org, category=PromptCategory.EMAIL)
    await make_prompt(service, members[Role.EDITOR], org, language=Language.EN)
    for _ in range(5):
        await make_prompt(service, others[Role.EDITOR], other, category=PromptCategory.EMAIL)
    viewer = members[Role.VIEWER]
    everything = await service.list_prompts(actor=await principal_for(viewer))
    assert everything.count == 4
    assert {p.organization_id for p in everything.items} == {org.id}
    emails = await service.list_prompts(
        actor=await principal_for(viewer),
        filters=PromptFilters(category=PromptCategory.EMAIL),
        limit=2,
    )
    assert (emails.count, len(emails.items)) == (3, 2)
    english = await service.list_prompts(
        actor=await principal_for(viewer), filters=PromptFilters(language="en")
    )
    assert english.count == 1
    page_two = await service.list_prompts(actor=await principal_for(viewer), offset=2, limit=2)
    assert [p.id for p in page_two.items] == [p.id for p in everything.items[2:4]]


async def test_deleted_prompts_and_prompts_of_retired_workspaces_disappear(db: str) -> None:
    service = PromptService()
    org, members = await org_with_roles()
    editor = members[Role.EDITOR]
    workspace = await make_workspace(org)
    gone = await make_prompt(service, editor, org)
    hidden = await make_prompt(service, editor, org, workspace_id=workspace.id)
    kept = await make_prompt(service, editor, org)
    await service.delete_prompt(actor=await principal_for(editor), prompt_id=gone.id)
    await Workspace.filter(id=workspace.id).update(is_active=False)
    assert await Prompt.filter(id=gone.id, is_active=False).exists()  # soft: the row stays
    for prompt in (gone, hidden):
        with pytest.raises(NotFound):
            await service.get_prompt(actor=await principal_for(editor), prompt_id=prompt.id)
    with pytest.raises(NotFound):
        await service.delete_prompt(actor=await principal_for(editor), prompt_id=gone.id)
    listing = await service.list_prompts(actor=await principal_for(editor))
    assert [p.id for p in listing.items] == [kept.id]


async def _racing_edits(service: PromptService, prompt: Prompt, members: dict) -> list[Any]:
    """One editor drops ``tone`` while an admin starts using it: each edit is valid alone
    against the state both read first, but not after the other."""
    return [
        service.update_prompt(
            actor=await principal_for(members[Role.EDITOR]), prompt_id=prompt.id, variables=[TOPIC]
        ),
        service.update_prompt(
            actor=await principal_for(members[Role.ADMIN]),
            prompt_id=prompt.id,
            template="{topic} {tone}",
        ),
    ]


def _assert_one_edit_won(results: list[Any], final: Prompt) -> None:
    assert sorted(type(r).__name__ for r in results) == ["InvalidInput", "Prompt"], results
    declared = [v["name"] for v in final.variables]
    assert set(placeholders(final.template)) <= set(declared)
    won = next(r for r in results if isinstance(r, Prompt))
    assert (final.template, final.variables) == (won.template, won.variables)


async def test_concurrent_template_and_variable_edits_never_disagree(db: str) -> None:
    service = PromptService()
    org, members = await org_with_roles()
    prompt = await make_prompt(
        service, members[Role.EDITOR], org, template="{topic}", variables=[TOPIC, TONE]
    )
    results = await asyncio.gather(
        *await _racing_edits(service, prompt, members), return_exceptions=True
    )
    _assert_one_edit_won(results, await Prompt.get(id=prompt.id))


@pytest.mark.postgres
async def test_concurrent_template_and_variable_edits_forced_to_overlap(
    db: str, database_url: str
) -> None:
    """Both edits start while a third session holds the prompt's row, so both have read the
    old pair before either writes: without the row lock both succeed and one is lost."""
    service = PromptService()
    org, members = await org_with_roles()
    prompt = await make_prompt(
        service, members[Role.EDITOR], org, template="{topic}", variables=[TOPIC, TONE]
    )
    async with locking_session(database_url) as other:
        await other.execute("SELECT id FROM prompts WHERE id = $1 FOR UPDATE", prompt.id)
        racers = asyncio.gather(
            *await _racing_edits(service, prompt, members), return_exceptions=True
        )
        await other.wait_until_blocking(2, unless=racers)
        await other.commit()
    _assert_one_edit_won(await racers, await Prompt.get(id=prompt.id))


def test_template_variables_lists_names_once_and_refuses_what_no_declaration_fixes() -> None:
    assert template_variables("{topic} for {audience}, again {topic}; {0} {x.y}") == [
        "topic",
        "audience",
    ]
    assert template_variables("no variables") == []
    for bad, code in (
        ("  ", "template_required"),
        (None, "template_required"),
        ("x" * (MAX_TEMPLATE_LENGTH + 1), "too_long"),
        ("bell \x07", "invalid_characters"),
        (" ".join(f"{{v{i}}}" for i in range(MAX_VARIABLES + 1)), "too_many_variables"),
    ):
        with pytest.raises(InvalidInput) as caught:
            template_variables(bad)
        assert caught.value.code == code


def test_check_prompt_accepts_what_create_saves_and_refuses_what_it_refuses() -> None:
    service = PromptService(max_rendered_chars=2_000)
    checked = service.check_prompt(
        title="  Caption ",
        template="Write about {topic}",
        variables=[{"name": "topic", "label": "T"}],
    )
    assert (checked.title, [v.name for v in checked.variables]) == ("Caption", ["topic"])
    for title, template, code in (
        ("t", "{topic} " * 3, "template_too_large"),  # 3 x 1,000 characters > 2,000
        ("t", "{other}", "undeclared_variables"),
        ("", "{topic}", "name_required"),
    ):
        with pytest.raises(InvalidInput) as caught:
            service.check_prompt(
                title=title, template=template, variables=[{"name": "topic", "label": "T"}]
            )
        assert caught.value.code == code
