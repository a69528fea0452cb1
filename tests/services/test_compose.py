"""The compose menus: paged, re-checked on every choice, and the last choice offered first."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput, NotFound, PermissionDenied
from core.services.compose import ComposeService, kinds_for
from core.services.prompts import check_answer, localized, parse_variables
from db.models import GenerationKind, Prompt, Role, User
from tests.support.factories import (
    add_member,
    make_org,
    make_project,
    make_workspace,
    principal_for,
)

pytestmark = pytest.mark.sqlite


async def _prompt(org, *, title: str, workspace=None, builtin: bool = False, **kw) -> Prompt:
    return await Prompt.create(
        organization=org,
        workspace=workspace,
        title=title,
        template="{x}",
        is_builtin=builtin,
        variables=[{"name": "x", "label": "x", "type": "text"}],
        **kw,
    )


async def test_pages_of_eight_in_name_order(db: str) -> None:
    org = await make_org()
    writer = await add_member(org, Role.WRITER)
    for n in range(10):
        await make_workspace(org, name=f"ws {n:02d}")
    compose = ComposeService()
    first = await compose.workspaces(actor=await principal_for(writer), organization_id=org.id)
    second = await compose.workspaces(
        actor=await principal_for(writer), organization_id=org.id, page=1
    )
    assert [o.title for o in first.items] == [f"ws {n:02d}" for n in range(8)]
    assert (first.pages, first.has_next, first.has_previous) == (2, True, False)
    assert [o.title for o in second.items] == ["ws 08", "ws 09"]
    assert (second.has_next, second.has_previous) == (False, True)
    # A forged page number is clamped, never an error.
    assert (
        await compose.workspaces(actor=await principal_for(writer), organization_id=org.id, page=99)
    ).page == 1


async def test_organisations_where_the_actor_may_write(db: str) -> None:
    a, b, c = await make_org(name="الف"), await make_org(name="ب"), await make_org(name="پ")
    user = await add_member(a, Role.WRITER)
    await add_member(b, Role.EDITOR, user)
    await add_member(c, Role.VIEWER, user)
    page = await ComposeService().organizations(actor=await principal_for(user))
    assert [o.id for o in page.items] == [a.id, b.id]


async def test_foreign_and_forged_ids_are_not_found(db: str) -> None:
    mine, theirs = await make_org(), await make_org()
    writer = await add_member(mine, Role.WRITER)
    viewer = await add_member(mine, Role.VIEWER)
    my_ws, their_ws = await make_workspace(mine), await make_workspace(theirs)
    my_project, their_project = await make_project(my_ws), await make_project(their_ws)
    their_prompt = await _prompt(theirs, title="t")
    other_ws_prompt = await _prompt(mine, title="o", workspace=await make_workspace(mine))
    compose = ComposeService()
    with pytest.raises(NotFound):
        await compose.workspaces(actor=await principal_for(writer), organization_id=theirs.id)
    with pytest.raises(NotFound):
        await compose.projects(actor=await principal_for(writer), workspace_id=their_ws.id)
    with pytest.raises(NotFound):
        await compose.prompts(actor=await principal_for(writer), project_id=their_project.id)
    with pytest.raises(NotFound):
        await compose.choose(
            actor=await principal_for(writer), project_id=their_project.id, prompt_id=None
        )
    with pytest.raises(NotFound):  # another tenant's prompt with my project
        await compose.choose(
            actor=await principal_for(writer), project_id=my_project.id, prompt_id=their_prompt.id
        )
    with pytest.raises(NotFound):  # my organisation's prompt of another workspace
        await compose.choose(
            actor=await principal_for(writer),
            project_id=my_project.id,
            prompt_id=other_ws_prompt.id,
        )
    with pytest.raises(PermissionDenied):  # viewers read, they do not compose
        await compose.projects(actor=await principal_for(viewer), workspace_id=my_ws.id)


async def test_prompts_own_first_then_the_library_with_language_and_category(db: str) -> None:
    org = await make_org()
    writer = await add_member(org, Role.WRITER)
    ws = await make_workspace(org)
    project = await make_project(ws)
    await _prompt(org, title="کتابخانه", builtin=True, language="en", category="blog")
    await _prompt(org, title="خودمان", workspace=ws)
    await _prompt(org, title="retired", is_active=False)
    page = await ComposeService().prompts(actor=await principal_for(writer), project_id=project.id)
    assert [(o.title, o.builtin) for o in page.items] == [("خودمان", False), ("کتابخانه", True)]
    assert (page.items[1].language, page.items[1].category) == ("en", "blog")


async def test_the_last_choice_is_remembered_and_rechecked(db: str) -> None:
    org = await make_org()
    writer = await add_member(org, Role.WRITER)
    project = await make_project(await make_workspace(org))
    prompt = await _prompt(org, title="p")
    compose = ComposeService()
    assert await compose.last_choice(actor=await principal_for(writer)) is None
    await compose.choose(
        actor=await principal_for(writer), project_id=project.id, prompt_id=prompt.id
    )
    last = await compose.last_choice(actor=await principal_for(writer))
    assert last is not None and (last.project.id, last.prompt.id) == (project.id, prompt.id)
    assert last.workspace.id == project.workspace_id and last.organization.id == org.id
    project.is_active = False
    await project.save()
    assert await compose.last_choice(actor=await principal_for(writer)) is None
    other: User = await add_member(org, Role.WRITER)
    assert await compose.last_choice(actor=await principal_for(other)) is None


def test_kinds_offered_per_prompt_kind() -> None:
    assert kinds_for(Prompt(kind=GenerationKind.DRAFT)) == (
        GenerationKind.DRAFT,
        GenerationKind.OUTLINE,
    )
    assert kinds_for(Prompt(kind=GenerationKind.CAPTION)) == (GenerationKind.CAPTION,)


def _var(**kw):
    return parse_variables([{"name": "v", "label": {"fa": "برچسب", "en": "Label"}, **kw}])[0]


@pytest.mark.parametrize(
    ("spec", "bad", "code", "good", "value"),
    [
        ({"type": "text", "max_length": 5}, "abcdefg", "variable_too_long", " abc ", "abc"),
        ({"type": "long_text", "required": True}, "  ", "variable_required", "x\ny", "x\ny"),
        (
            {"type": "number", "min_value": 1, "max_value": 10},
            "۱۲",
            "variable_out_of_range",
            "۷",
            "7",
        ),
        ({"type": "number", "min_value": 3}, "2", "variable_too_small", "3", "3"),
        ({"type": "number", "max_value": 3}, "4", "variable_too_large", "3", "3"),
        ({"type": "number"}, "ten", "variable_not_a_number", "۱٫۵", "1.5"),
        (
            {"type": "choice", "choices": ["رسمی", "صمیمی"]},
            "شاد",
            "variable_not_a_choice",
            "صمیمی",
            "صمیمی",
        ),
    ],
)
def test_answers_bad_then_good(spec, bad, code, good, value) -> None:
    variable = _var(**spec)
    with pytest.raises(InvalidInput) as refused:
        check_answer(variable, bad)
    assert refused.value.code == code
    assert check_answer(variable, good) == value


def test_skipping_takes_the_default_or_nothing() -> None:
    assert check_answer(_var(default="پیش‌فرض"), None) == "پیش‌فرض"
    assert check_answer(_var(), None) == ""
    with pytest.raises(InvalidInput):
        check_answer(_var(required=True), None)


def test_bounds_belong_to_numbers_and_are_ordered() -> None:
    with pytest.raises(InvalidInput):
        parse_variables([{"name": "v", "label": "l", "type": "text", "min_value": 1}])
    with pytest.raises(InvalidInput):
        parse_variables(
            [{"name": "v", "label": "l", "type": "number", "min_value": 5, "max_value": 1}]
        )
    with pytest.raises(InvalidInput):  # a default outside the range
        parse_variables(
            [{"name": "v", "label": "l", "type": "number", "max_value": 1, "default": "5"}]
        )


def test_labels_in_the_users_language() -> None:
    variable = _var()
    assert localized(variable.label, "en") == "Label" and localized(variable.label, "fa") == "برچسب"
    assert localized(None, "fa") == ""
