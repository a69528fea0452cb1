"""``contexor bootstrap`` twice gives the same rows; its decisions about existing data hold."""

from __future__ import annotations

import asyncio

import pytest

from core.bootstrap import bootstrap
from core.clock import FrozenClock
from core.errors import Conflict, InvalidInput
from core.prompt_library import builtin_prompts
from db.models import Membership, Organization, Project, Prompt, Role, User, Workspace
from tests.support.factories import add_member, make_user

pytestmark = pytest.mark.sqlite

MODELS = (Organization, User, Membership, Workspace, Project, Prompt)


async def snapshot() -> dict[str, list]:
    """Every row of the tables bootstrap touches, as comparable tuples."""
    rows = {}
    for model in MODELS:
        fields = sorted(f for f in model._meta.db_fields if f not in ("created_at", "updated_at"))
        rows[model.__name__] = await model.all().order_by("id").values_list(*fields)
    return rows


async def test_running_twice_leaves_the_same_rows(db: str, clock: FrozenClock) -> None:
    first = await bootstrap(
        phone="۰۹۱۲ ۳۴۵ ۶۷۸۹", org_name="نشر نوآ", full_name="مریم رضایی", clock=clock
    )
    before = await snapshot()
    clock.advance(days=1)
    second = await bootstrap(phone="+989123456789", org_name="نشر نوآ", full_name=None, clock=clock)
    assert await snapshot() == before

    assert (first.organization.id, first.admin.id) == (second.organization.id, second.admin.id)
    assert (first.workspace.id, first.project.id) == (second.workspace.id, second.project.id)
    assert first.changed_anything and not second.changed_anything
    assert first.prompts_added == len(builtin_prompts()) and second.prompts_added == 0
    assert (first.organization.slug, first.admin.phone_number) == ("نشر-نوآ", "+989123456789")
    assert (await User.get(id=first.admin.id)).full_name == "مریم رضایی"
    assert [(m.user_id, m.role) for m in await Membership.all()] == [(first.admin.id, "admin")]
    assert await Organization.all().count() == 1
    assert await Workspace.all().count() == 1 and await Project.all().count() == 1
    library = await Prompt.filter(organization_id=first.organization.id, is_builtin=True)
    assert {p.key for p in library} == {p.key for p in builtin_prompts()}
    assert second.finished_at > first.finished_at


async def test_an_existing_organisation_is_refused_to_anyone_but_its_admin(
    db: str, clock: FrozenClock
) -> None:
    result = await bootstrap(phone="09120000001", org_name="Acme", full_name=None, clock=clock)
    writer = await add_member(
        result.organization, Role.WRITER, await make_user(phone="+989120000002")
    )
    before = await snapshot()

    for phone in ("09120000002", "09120000003"):  # a member who is no admin; a stranger
        with pytest.raises(Conflict) as caught:
            await bootstrap(phone=phone, org_name="ACME", full_name="W", clock=clock)
        assert caught.value.code == "organization_exists"
    assert await snapshot() == before
    assert (await Membership.get(user_id=writer.id)).role == Role.WRITER


async def test_its_admin_runs_it_again_and_edits_survive(db: str, clock: FrozenClock) -> None:
    result = await bootstrap(phone="09120000001", org_name="Acme", full_name=None, clock=clock)
    edited = await Prompt.get(organization_id=result.organization.id, key="blog_post.fa")
    edited.template = "{topic}"
    await edited.save()
    await Prompt.filter(organization_id=result.organization.id, key="outline.en").update(
        is_active=False
    )
    await Organization.filter(id=result.organization.id).update(is_active=False)

    again = await bootstrap(phone="09120000001", org_name="ACME", full_name="W", clock=clock)
    assert again.organization.id == result.organization.id and not again.made_admin
    assert (await Organization.get(id=result.organization.id)).is_active  # reactivated
    assert (await Prompt.get(id=edited.id)).template == "{topic}"  # never overwritten
    assert not (await Prompt.get(key="outline.en")).is_active  # never revived
    assert await Prompt.all().count() == len(builtin_prompts())


async def test_concurrent_bootstraps_still_leave_one_of_everything(
    db: str, clock: FrozenClock
) -> None:
    results = await asyncio.gather(
        *(
            bootstrap(phone="09120000001", org_name="Acme", full_name=None, clock=clock)
            for _ in range(3)
        )
    )
    assert len({r.organization.id for r in results}) == 1
    assert await Organization.all().count() == 1 and await Membership.all().count() == 1
    assert await Prompt.all().count() == len(builtin_prompts())


@pytest.mark.parametrize(
    ("phone", "org_name", "code"),
    [
        ("021 8888 1234", "Acme", "landline_phone"),
        ("not a phone", "Acme", "invalid_phone"),
        ("+1 201 555 0123", "Acme", "phone_region_not_accepted"),
        ("09120000001", "   ", "name_required"),
    ],
)
async def test_bad_arguments_are_invalid_input_and_write_nothing(
    db: str, clock: FrozenClock, phone: str, org_name: str, code: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await bootstrap(phone=phone, org_name=org_name, full_name=None, clock=clock)
    assert caught.value.code == code
    assert await Organization.all().count() == 0 and await User.all().count() == 0
