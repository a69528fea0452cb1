"""The content service: visibility per role, the workflow, versions, audit and races."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from core.clock import FrozenClock
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from core.notify import InMemoryNotifier
from core.presentation import display_name
from core.services.audit import AuditService
from core.services.common import Listing
from core.services.content import ContentService, count_words, search_terms
from db.models import (
    AuditLog,
    Content,
    ContentStatus,
    ContentVersion,
    Organization,
    Project,
    Prompt,
    Role,
    User,
    VersionSource,
)
from tests.support.factories import (
    add_member,
    make_org,
    make_project,
    make_user,
    make_workspace,
    org_with_roles,
    principal_for,
)

pytestmark = pytest.mark.sqlite

BODY = "این یک متن آزمایشی برای بررسی گردش کار است"


@dataclass
class World:
    org: Organization
    roles: dict[Role, User]
    other_writer: User
    project: Project
    foreign_org: Organization
    foreign_admin: User
    foreign_project: Project
    outsider: User

    @property
    def admin(self) -> User:
        return self.roles[Role.ADMIN]

    @property
    def editor(self) -> User:
        return self.roles[Role.EDITOR]

    @property
    def writer(self) -> User:
        return self.roles[Role.WRITER]

    @property
    def viewer(self) -> User:
        return self.roles[Role.VIEWER]


@pytest.fixture
def notifier() -> InMemoryNotifier:
    return InMemoryNotifier()


@pytest.fixture
def audit(clock: FrozenClock) -> AuditService:
    return AuditService(clock=clock)


@pytest.fixture
def service(clock: FrozenClock, notifier: InMemoryNotifier, audit: AuditService) -> ContentService:
    return ContentService(clock=clock, notifier=notifier, audit=audit)


@pytest.fixture
async def world(db: str) -> World:
    org, roles = await org_with_roles()
    other_writer = await add_member(org, Role.WRITER)
    project = await make_project(await make_workspace(org))
    foreign_org = await make_org()
    foreign_admin = await add_member(foreign_org, Role.ADMIN)
    foreign_project = await make_project(await make_workspace(foreign_org))
    return World(
        org=org,
        roles=roles,
        other_writer=other_writer,
        project=project,
        foreign_org=foreign_org,
        foreign_admin=foreign_admin,
        foreign_project=foreign_project,
        outsider=await make_user(),
    )


async def _draft(service: ContentService, world: World, author: User | None = None) -> Content:
    return await service.create(
        actor=await principal_for(author or world.writer),
        project_id=world.project.id,
        title="عنوان",
        body=BODY,
    )


async def _in_review(service: ContentService, world: World) -> Content:
    content = await _draft(service, world)
    return await service.submit(actor=await principal_for(world.writer), content_id=content.id)


async def _approved(service: ContentService, world: World) -> Content:
    content = await _in_review(service, world)
    return await service.approve(actor=await principal_for(world.editor), content_id=content.id)


async def _actions(content_id: int) -> list[str]:
    return (
        await AuditLog.filter(content_ref=content_id)
        .order_by("id")
        .values_list("action", flat=True)
    )


# --- helpers ---------------------------------------------------------------------------------


def test_word_count_keeps_zwnj_words_whole_and_skips_punctuation() -> None:
    assert count_words("من می‌خواهم — بنویسم ۱۴۰۳ !") == 4
    assert count_words("   ") == 0


def test_display_name_masks_the_phone_when_there_is_no_name() -> None:
    assert display_name(User(phone_number="+989121234567", full_name="سارا")) == "سارا"
    assert display_name(User(phone_number="+989121234567")) == "+98912***4567"


def test_search_terms_are_normalised_and_cover_both_digit_forms() -> None:
    assert search_terms(" كتاب ۱۴۰۳ ") == ["کتاب 1403", "کتاب ۱۴۰۳"]
    assert search_terms("متن") == ["متن"]
    assert search_terms("\u200f ") == []


# --- create ----------------------------------------------------------------------------------


async def test_writer_creates_a_draft_with_version_one_and_an_audit_entry(
    service: ContentService, world: World
) -> None:
    content = await service.create(
        actor=await principal_for(world.writer),
        project_id=world.project.id,
        title="  مقاله\u200f درباره\u064a  ۱۴۰۳ ",
        body="تماس: ۰۹۱۲۱۲۳۴۵۶۷ و a@b.io\n" + BODY,
        variables={"topic": "كتاب", "count": 3},
    )
    assert content.status == ContentStatus.DRAFT
    assert content.title == "مقاله دربارهی ۱۴۰۳"  # Persian yeh, marks gone, digits kept
    assert content.variables == {"topic": "کتاب", "count": 3}
    assert content.word_count == 13
    assert content.has_pii is True
    assert content.pii_findings == {"phone": 1, "email": 1}
    assert (content.organization_id, content.workspace_id) == (
        world.org.id,
        world.project.workspace_id,
    )
    versions = await ContentVersion.filter(content_id=content.id).values_list(
        "number", "source", "created_by_id"
    )
    assert versions == [(1, VersionSource.CREATED, world.writer.id)]
    entry = await AuditLog.get(content_ref=content.id)
    assert (entry.action, entry.new_status, entry.actor_id) == ("created", "draft", world.writer.id)


@pytest.mark.parametrize(
    ("who", "error"),
    [("viewer", PermissionDenied), ("outsider", NotFound), ("foreign_admin", NotFound)],
)
async def test_create_is_refused_below_writer_and_outside_the_organisation(
    service: ContentService, world: World, who: str, error: type[Exception]
) -> None:
    actor = {"viewer": world.viewer, "outsider": world.outsider}.get(who) or world.foreign_admin
    with pytest.raises(error):
        await service.create(
            actor=await principal_for(actor), project_id=world.project.id, title="t"
        )
    assert await Content.all().count() == 0


async def test_create_in_an_archived_or_unknown_project_is_not_found(
    service: ContentService, world: World
) -> None:
    with pytest.raises(NotFound):
        await service.create(actor=await principal_for(world.admin), project_id=10_000, title="t")
    await Project.filter(id=world.project.id).update(is_active=False)
    with pytest.raises(NotFound):
        await service.create(
            actor=await principal_for(world.admin), project_id=world.project.id, title="t"
        )


async def test_prompt_must_belong_to_the_organisation_and_workspace(
    service: ContentService, world: World
) -> None:
    own = await Prompt.create(organization=world.org, title="p", template="{x}")
    foreign = await Prompt.create(organization=world.foreign_org, title="p", template="{x}")
    other_workspace = await make_workspace(world.org)
    elsewhere = await Prompt.create(
        organization=world.org, workspace=other_workspace, title="p", template="{x}"
    )
    content = await service.create(
        actor=await principal_for(world.writer),
        project_id=world.project.id,
        title="t",
        prompt_id=own.id,
    )
    assert content.prompt_id == own.id
    for prompt_id in (foreign.id, elsewhere.id, 10_000):
        with pytest.raises(NotFound) as caught:
            await service.create(
                actor=await principal_for(world.writer),
                project_id=world.project.id,
                title="t",
                prompt_id=prompt_id,
            )
        assert caught.value.code == "unknown_prompt"


async def test_nul_characters_never_reach_the_database(
    service: ContentService, world: World
) -> None:
    content = await service.create(
        actor=await principal_for(world.writer),
        project_id=world.project.id,
        title="ti\x00tle",
        body="bo\x00dy",
        variables={"to\x00pic": "va\x00lue"},
    )
    stored = await Content.get(id=content.id)
    assert (stored.title, stored.body, stored.variables) == ("title", "body", {"topic": "value"})
    assert await service.list_contents(
        actor=await principal_for(world.writer), search="\x00"
    ) == Listing(count=1, items=[stored])


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"title": " \u200f "}, "title_required"),
        ({"title": "x" * 501}, "title_too_long"),
        ({"title": "t", "body": "x" * 100_001}, "body_too_long"),
        ({"title": "t", "variables": {"a": [1]}}, "invalid_content_variables"),
        ({"title": "t", "variables": {"": "v"}}, "invalid_content_variables"),
        ({"title": "t", "variables": {"x": float("nan")}}, "invalid_content_variables"),
    ],
)
async def test_create_rejects_bad_input(
    service: ContentService, world: World, fields: dict, code: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await service.create(
            actor=await principal_for(world.writer), project_id=world.project.id, **fields
        )
    assert caught.value.code == code


# --- visibility ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("admin", {"draft", "review", "rejected", "approved"}),
        ("editor", {"draft", "review", "rejected", "approved"}),
        ("writer", {"draft", "review", "rejected", "approved"}),  # the author
        ("other_writer", {"approved"}),
        ("viewer", {"approved"}),
        ("outsider", set()),
        ("foreign_admin", set()),
    ],
)
async def test_who_sees_content_in_each_state(
    service: ContentService, world: World, who: str, sees: set[str]
) -> None:
    actor = {
        "admin": world.admin,
        "editor": world.editor,
        "writer": world.writer,
        "other_writer": world.other_writer,
        "viewer": world.viewer,
        "outsider": world.outsider,
        "foreign_admin": world.foreign_admin,
    }[who]
    rejected = await _in_review(service, world)
    made = {
        "draft": await _draft(service, world),
        "review": await _in_review(service, world),
        "rejected": await service.reject(
            actor=await principal_for(world.editor), content_id=rejected.id, reason="منبع ندارد"
        ),
        "approved": await _approved(service, world),
    }
    for state, content in made.items():
        assert content.status == state
        if state in sees:
            assert (
                await service.get(actor=await principal_for(actor), content_id=content.id)
            ).id == content.id
        else:
            with pytest.raises(NotFound):
                await service.get(actor=await principal_for(actor), content_id=content.id)
    listing = await service.list_contents(actor=await principal_for(actor))
    count, page = listing.count, listing.items
    assert {c.id for c in page} == {made[state].id for state in sees}
    assert count == len(sees)


async def test_inactive_user_and_inactive_organisation_see_nothing(
    service: ContentService, world: World
) -> None:
    content = await _approved(service, world)
    await Organization.filter(id=world.org.id).update(is_active=False)
    with pytest.raises(NotFound):
        await service.get(actor=await principal_for(world.admin), content_id=content.id)
    assert await service.list_contents(actor=await principal_for(world.admin)) == Listing(
        count=0, items=[]
    )
    await Organization.filter(id=world.org.id).update(is_active=True)
    await User.filter(id=world.admin.id).update(is_active=False)
    # A deactivated user never becomes a principal: nothing reaches the service on their behalf.
    with pytest.raises(Unauthenticated):
        await principal_for(world.admin)


async def test_lists_never_show_another_tenants_rows(service: ContentService, world: World) -> None:
    mine = await _draft(service, world, world.admin)
    await service.create(
        actor=await principal_for(world.foreign_admin),
        project_id=world.foreign_project.id,
        title="x",
    )
    listing = await service.list_contents(actor=await principal_for(world.admin))
    count, page = listing.count, listing.items
    assert (count, [c.id for c in page]) == (1, [mine.id])
    # A filter naming the other tenant's project, workspace or organisation is 404, like an
    # unknown one and like every other list: never an empty page that confirms it exists.
    for filters in (
        {"project_id": world.foreign_project.id},
        {"workspace_id": world.foreign_project.workspace_id},
        {"organization_id": world.foreign_org.id},
        {"organization_id": 10**6},
    ):
        with pytest.raises(NotFound):
            await service.list_contents(actor=await principal_for(world.admin), **filters)


async def test_list_filters_and_search(service: ContentService, world: World) -> None:
    other_project = await make_project(await world.project.workspace)
    first = await service.create(
        actor=await principal_for(world.editor),
        project_id=world.project.id,
        title="کتاب ۱۴۰۳",
        body="متن اول",
    )
    second = await service.create(
        actor=await principal_for(world.editor),
        project_id=other_project.id,
        title="دوم",
        body="درباره كيك 100٪",
    )
    await service.submit(actor=await principal_for(world.editor), content_id=second.id)

    async def ids(**filters: object) -> list[int]:
        listing = await service.list_contents(actor=await principal_for(world.editor), **filters)
        count, page = listing.count, listing.items
        assert count == len(page)
        return [c.id for c in page]

    assert await ids() == [second.id, first.id]  # newest first
    assert await ids(project_id=world.project.id) == [first.id]
    assert await ids(status=ContentStatus.REVIEW) == [second.id]
    assert await ids(organization_id=world.org.id) == [second.id, first.id]
    assert await ids(search="1403") == [first.id]  # ASCII digits find Persian ones
    assert await ids(search="كيك") == [second.id]  # Arabic kaf and yeh, stored as Persian
    assert await ids(search="کیک ۱۰۰") == [second.id]
    assert await ids(search="اول") == [first.id]
    assert await ids(search="%_%") == []  # LIKE wildcards are literal
    assert await ids(search="  ") == [second.id, first.id]
    for short in ("x", "ab", " ک ", "۱۲"):  # too short once normalised and stripped
        with pytest.raises(InvalidInput) as refused:
            await ids(search=short)
        assert refused.value.code == "search_too_short"


async def test_list_pages(service: ContentService, world: World) -> None:
    made = [await _draft(service, world) for _ in range(5)]
    listing = await service.list_contents(
        actor=await principal_for(world.writer), offset=2, limit=2
    )
    count, page = listing.count, listing.items
    assert count == 5
    assert [c.id for c in page] == [made[2].id, made[1].id]


# --- edit ------------------------------------------------------------------------------------


async def test_edit_adds_a_version_and_an_audit_entry(
    service: ContentService, world: World
) -> None:
    content = await _draft(service, world)
    edited = await service.update(
        actor=await principal_for(world.writer),
        content_id=content.id,
        body="شماره من 09121234567 است",
    )
    assert edited.version_count == 2
    assert edited.word_count == 4
    assert edited.pii_findings == {"phone": 1}
    version = await ContentVersion.get(content_id=content.id, number=2)
    assert (version.source, version.body, version.title) == (
        VersionSource.EDIT,
        edited.body,
        "عنوان",
    )
    entry = await AuditLog.filter(content_ref=content.id, action="updated").get()
    assert entry.changes == {"fields": ["body"], "version": 2}
    assert "0912" not in str(entry.changes)


async def test_edit_that_changes_nothing_writes_nothing(
    service: ContentService, world: World
) -> None:
    content = await _draft(service, world)
    same = await service.update(
        actor=await principal_for(world.writer), content_id=content.id, title="عنوان", body=BODY
    )
    assert same.version_count == 1
    assert await _actions(content.id) == ["created"]


async def test_variables_only_edit_is_audited_without_a_version(
    service: ContentService, world: World
) -> None:
    content = await _draft(service, world)
    edited = await service.update(
        actor=await principal_for(world.writer), content_id=content.id, variables={"a": "b"}
    )
    assert (edited.variables, edited.version_count) == ({"a": "b"}, 1)
    assert await _actions(content.id) == ["created", "updated"]


async def test_edit_permissions(service: ContentService, world: World) -> None:
    draft = await _draft(service, world)
    await service.update(
        actor=await principal_for(world.editor), content_id=draft.id, title="ویرایش سردبیر"
    )
    await service.update(
        actor=await principal_for(world.admin), content_id=draft.id, title="ویرایش مدیر"
    )
    for actor in (world.other_writer, world.viewer, world.outsider, world.foreign_admin):
        with pytest.raises(NotFound):
            await service.update(actor=await principal_for(actor), content_id=draft.id, title="x")
    approved = await _approved(service, world)
    for actor in (world.other_writer, world.viewer):  # may see it, may not change it
        with pytest.raises(PermissionDenied):
            await service.update(
                actor=await principal_for(actor), content_id=approved.id, title="x"
            )


async def test_approved_content_is_frozen(service: ContentService, world: World) -> None:
    content = await _approved(service, world)
    for actor in (world.writer, world.editor, world.admin):
        with pytest.raises(Conflict) as caught:
            await service.update(
                actor=await principal_for(actor), content_id=content.id, title="دیگر"
            )
        assert caught.value.code == "content_approved"
    with pytest.raises(Conflict):
        await service.submit(actor=await principal_for(world.writer), content_id=content.id)
    assert (await Content.get(id=content.id)).version_count == 1


async def test_in_review_only_editors_edit(service: ContentService, world: World) -> None:
    content = await _in_review(service, world)
    with pytest.raises(Conflict) as caught:
        await service.update(
            actor=await principal_for(world.writer), content_id=content.id, body="تغییر"
        )
    assert caught.value.code == "content_in_review"
    edited = await service.update(
        actor=await principal_for(world.editor), content_id=content.id, body="اصلاح غلط"
    )
    assert (edited.status, edited.version_count) == (ContentStatus.REVIEW, 2)
    approved = await service.approve(actor=await principal_for(world.editor), content_id=content.id)
    assert approved.approved_version == 2


async def test_editing_rejected_content_returns_it_to_draft_keeping_the_reason(
    service: ContentService, world: World
) -> None:
    content = await _in_review(service, world)
    await service.reject(
        actor=await principal_for(world.editor), content_id=content.id, reason="منبع ندارد"
    )
    edited = await service.update(
        actor=await principal_for(world.writer), content_id=content.id, body="با منبع"
    )
    assert edited.status == ContentStatus.DRAFT
    assert (edited.rejection_reason, edited.decided_by_id) == ("منبع ندارد", world.editor.id)
    entry = await AuditLog.filter(content_ref=content.id, action="updated").get()
    assert (entry.old_status, entry.new_status) == ("rejected", "draft")
    resubmitted = await service.submit(
        actor=await principal_for(world.writer), content_id=content.id
    )
    assert resubmitted.status == ContentStatus.REVIEW
    assert (resubmitted.rejection_reason, resubmitted.decided_by_id) == (None, None)


async def test_concurrent_edits_get_consecutive_version_numbers(
    service: ContentService, world: World
) -> None:
    content = await _draft(service, world)
    editors = [world.writer, world.editor, world.admin] * 4
    results = await asyncio.gather(
        *[
            service.update(
                actor=await principal_for(actor), content_id=content.id, body=f"نسخه {n}"
            )
            for n, actor in enumerate(editors)
        ]
    )
    assert len(results) == len(editors)
    numbers = (
        await ContentVersion.filter(content_id=content.id)
        .order_by("number")
        .values_list("number", flat=True)
    )
    assert numbers == list(range(1, len(editors) + 2))
    final = await Content.get(id=content.id)
    assert final.version_count == len(editors) + 1
    newest = await ContentVersion.get(content_id=content.id, number=final.version_count)
    assert newest.body == final.body  # the content shows its newest version
    assert (await _actions(content.id)).count("updated") == len(editors)


# --- submit, approve, reject -----------------------------------------------------------------


async def test_submit_moves_draft_to_review_and_tells_editors(
    service: ContentService, world: World, notifier: InMemoryNotifier
) -> None:
    content = await _draft(service, world)
    submitted = await service.submit(actor=await principal_for(world.writer), content_id=content.id)
    assert submitted.status == ContentStatus.REVIEW
    assert notifier.events == [
        ("content_submitted", {"content": content.id, "by": world.writer.id})
    ]
    with pytest.raises(Conflict) as caught:
        await service.submit(actor=await principal_for(world.writer), content_id=content.id)
    assert caught.value.code == "content_in_review"
    assert await _actions(content.id) == ["created", "submitted"]


async def test_empty_draft_cannot_be_submitted(service: ContentService, world: World) -> None:
    content = await service.create(
        actor=await principal_for(world.writer), project_id=world.project.id, title="t"
    )
    with pytest.raises(Conflict) as caught:
        await service.submit(actor=await principal_for(world.writer), content_id=content.id)
    assert caught.value.code == "content_empty"


async def test_rejected_content_must_be_edited_before_resubmitting(
    service: ContentService, world: World
) -> None:
    content = await _in_review(service, world)
    await service.reject(
        actor=await principal_for(world.editor), content_id=content.id, reason="کوتاه است"
    )
    with pytest.raises(Conflict) as caught:
        await service.submit(actor=await principal_for(world.writer), content_id=content.id)
    assert caught.value.code == "content_rejected"


async def test_submit_permissions(service: ContentService, world: World) -> None:
    content = await _draft(service, world)
    for actor in (world.other_writer, world.viewer, world.outsider):
        with pytest.raises(NotFound):
            await service.submit(actor=await principal_for(actor), content_id=content.id)
    assert (
        await service.submit(actor=await principal_for(world.editor), content_id=content.id)
    ).status == "review"


async def test_approve_records_version_decider_time_and_note(
    service: ContentService, world: World, notifier: InMemoryNotifier, clock: FrozenClock
) -> None:
    content = await _in_review(service, world)
    clock.advance(minutes=5)
    approved = await service.approve(
        actor=await principal_for(world.editor), content_id=content.id, note=" عالی "
    )
    assert approved.status == ContentStatus.APPROVED
    assert (approved.approved_version, approved.decided_by_id) == (1, world.editor.id)
    assert approved.decided_at == clock.now()
    entry = await AuditLog.filter(content_ref=content.id, action="approved").get()
    assert (entry.old_status, entry.new_status, entry.note) == ("review", "approved", "عالی")
    assert entry.changes == {"version": 1}
    assert notifier.events[-1] == (
        "content_decided",
        {"content": content.id, "by": world.editor.id, "status": "approved"},
    )


async def test_reject_requires_a_reason(service: ContentService, world: World) -> None:
    content = await _in_review(service, world)
    for reason in ("", " \u200f\n "):
        with pytest.raises(InvalidInput) as caught:
            await service.reject(
                actor=await principal_for(world.editor), content_id=content.id, reason=reason
            )
        assert caught.value.code == "reason_required"
    rejected = await service.reject(
        actor=await principal_for(world.admin), content_id=content.id, reason="منبع؟"
    )
    assert (rejected.status, rejected.rejection_reason) == (ContentStatus.REJECTED, "منبع؟")
    assert rejected.approved_version is None


async def test_only_editors_decide(service: ContentService, world: World) -> None:
    content = await _in_review(service, world)
    with pytest.raises(PermissionDenied):
        await service.approve(actor=await principal_for(world.writer), content_id=content.id)
    with pytest.raises(PermissionDenied):
        await service.reject(
            actor=await principal_for(world.writer), content_id=content.id, reason="r"
        )
    for actor in (world.other_writer, world.viewer, world.outsider, world.foreign_admin):
        with pytest.raises(NotFound):
            await service.approve(actor=await principal_for(actor), content_id=content.id)
    assert (await Content.get(id=content.id)).status == ContentStatus.REVIEW


async def test_deciding_a_draft_is_a_conflict(service: ContentService, world: World) -> None:
    content = await _draft(service, world)
    with pytest.raises(Conflict) as caught:
        await service.approve(actor=await principal_for(world.editor), content_id=content.id)
    assert caught.value.code == "content_not_in_review"


async def test_two_editors_approving_at_once_make_one_decision(
    service: ContentService, world: World, notifier: InMemoryNotifier
) -> None:
    content = await _in_review(service, world)
    await User.filter(id=world.admin.id).update(full_name="مدیر")
    world.admin.full_name = "مدیر"
    results = await asyncio.gather(
        service.approve(actor=await principal_for(world.editor), content_id=content.id),
        service.approve(actor=await principal_for(world.admin), content_id=content.id),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, Content)]
    lost = [r for r in results if isinstance(r, Conflict)]
    assert (len(won), len(lost)) == (1, 1), results
    winner = await User.get(id=won[0].decided_by_id)
    assert lost[0].code == "already_decided"
    assert lost[0].params == {"decided_by": display_name(winner), "current_status": "approved"}
    assert (await _actions(content.id)).count("approved") == 1
    assert [name for name, _ in notifier.events].count("content_decided") == 1


async def test_approve_against_reject_makes_one_decision(
    service: ContentService, world: World
) -> None:
    content = await _in_review(service, world)
    results = await asyncio.gather(
        service.reject(actor=await principal_for(world.editor), content_id=content.id, reason="نه"),
        service.approve(actor=await principal_for(world.admin), content_id=content.id),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, Content)]
    lost = [r for r in results if isinstance(r, Conflict)]
    assert (len(won), len(lost)) == (1, 1), results
    final = await Content.get(id=content.id)
    assert final.status == won[0].status
    assert lost[0].params["current_status"] == final.status.value
    decisions = [a for a in await _actions(content.id) if a in ("approved", "rejected")]
    assert decisions == [final.status.value]


async def test_a_decision_and_its_notification_commit_together(
    clock: FrozenClock, audit: AuditService, world: World
) -> None:
    """The notifier writes in the decision's transaction: if it cannot, nothing is decided
    (and nothing is announced that did not happen)."""

    class Broken(InMemoryNotifier):
        async def content_decided(self, **_: object) -> None:
            raise RuntimeError("cannot write the notification")

    service = ContentService(clock=clock, notifier=Broken(), audit=audit)
    content = await _in_review(service, world)
    with pytest.raises(RuntimeError):
        await service.approve(actor=await principal_for(world.editor), content_id=content.id)
    assert (await Content.get(id=content.id)).status == ContentStatus.REVIEW
    assert "approved" not in await _actions(content.id)


# --- delete and the audit trail --------------------------------------------------------------


async def test_soft_delete_hides_the_content_and_keeps_its_audit_trail(
    service: ContentService, world: World, audit: AuditService
) -> None:
    content = await _draft(service, world)
    await service.delete(actor=await principal_for(world.writer), content_id=content.id)
    stored = await Content.get(id=content.id)
    assert stored.deleted_at is not None
    for call in (
        service.get(actor=await principal_for(world.admin), content_id=content.id),
        service.update(actor=await principal_for(world.admin), content_id=content.id, title="x"),
        service.submit(actor=await principal_for(world.admin), content_id=content.id),
        service.delete(actor=await principal_for(world.admin), content_id=content.id),
        service.list_versions(actor=await principal_for(world.admin), content_id=content.id),
    ):
        with pytest.raises(NotFound):
            await call
    assert await service.list_contents(actor=await principal_for(world.admin)) == Listing(
        count=0, items=[]
    )
    # Even a hard delete of the row leaves the trail readable.
    await Content.filter(id=content.id).delete()
    listing = await audit.list_entries(
        actor=await principal_for(world.editor), content_id=content.id
    )
    count, entries = listing.count, listing.items
    assert count == 2
    assert [e.action for e in entries] == ["deleted", "created"]
    assert entries[0].old_status == "draft"


async def test_delete_permissions(service: ContentService, world: World) -> None:
    draft = await _draft(service, world)
    for actor in (world.other_writer, world.viewer, world.outsider):
        with pytest.raises(NotFound):
            await service.delete(actor=await principal_for(actor), content_id=draft.id)
    approved = await _approved(service, world)
    for actor in (world.writer, world.viewer):  # the author too: approved needs an editor
        with pytest.raises(PermissionDenied):
            await service.delete(actor=await principal_for(actor), content_id=approved.id)
    await service.delete(actor=await principal_for(world.editor), content_id=approved.id)
    await service.delete(actor=await principal_for(world.admin), content_id=draft.id)
    assert await Content.filter(deleted_at=None).count() == 0


async def test_audit_list_is_for_editors_of_the_organisation(
    service: ContentService, world: World, audit: AuditService
) -> None:
    mine = await _draft(service, world)
    foreign = await service.create(
        actor=await principal_for(world.foreign_admin),
        project_id=world.foreign_project.id,
        title="x",
    )
    for actor in (world.writer, world.viewer, world.outsider):
        with pytest.raises(PermissionDenied):
            await audit.list_entries(actor=await principal_for(actor))
    listing = await audit.list_entries(actor=await principal_for(world.editor))
    count, entries = listing.count, listing.items
    assert (count, [e.content_ref for e in entries]) == (1, [mine.id])
    assert await audit.list_entries(
        actor=await principal_for(world.editor), content_id=foreign.id
    ) == Listing(count=0, items=[])
    with pytest.raises(NotFound):
        await audit.list_entries(
            actor=await principal_for(world.editor), organization_id=world.foreign_org.id
        )
    with pytest.raises(PermissionDenied):
        await audit.list_entries(
            actor=await principal_for(world.writer), organization_id=world.org.id
        )


# --- versions --------------------------------------------------------------------------------


async def test_versions_newest_first_for_those_who_may_edit(
    service: ContentService, world: World
) -> None:
    content = await _draft(service, world)
    for n in range(3):
        await service.update(
            actor=await principal_for(world.writer), content_id=content.id, body=f"متن {n}"
        )
    listing = await service.list_versions(
        actor=await principal_for(world.writer), content_id=content.id, offset=1, limit=2
    )
    count, page = listing.count, listing.items
    assert (count, [v.number for v in page]) == (4, [3, 2])
    assert (
        await service.list_versions(actor=await principal_for(world.editor), content_id=content.id)
    ).count == 4
    with pytest.raises(NotFound):
        await service.list_versions(
            actor=await principal_for(world.other_writer), content_id=content.id
        )
    await service.submit(actor=await principal_for(world.writer), content_id=content.id)
    await service.approve(actor=await principal_for(world.editor), content_id=content.id)
    for actor in (world.other_writer, world.viewer):  # may read the content, not its history
        with pytest.raises(PermissionDenied):
            await service.list_versions(actor=await principal_for(actor), content_id=content.id)


# --- generation helpers ----------------------------------------------------------------------


async def test_generation_round_trip(service: ContentService, world: World) -> None:
    content = await _draft(service, world)
    ticket = await service.begin_generation(
        actor=await principal_for(world.writer), content_id=content.id
    )
    assert (ticket.content.status, ticket.previous_status) == ("generating", "draft")
    for call in (
        service.begin_generation(actor=await principal_for(world.writer), content_id=content.id),
        service.update(actor=await principal_for(world.writer), content_id=content.id, body="x"),
        service.submit(actor=await principal_for(world.writer), content_id=content.id),
        service.delete(actor=await principal_for(world.editor), content_id=content.id),
    ):
        with pytest.raises(Conflict) as caught:
            await call
        assert caught.value.code == "content_generating"
    version = await service.finish_generation(
        content_id=content.id, job_id=None, actor_id=world.writer.id, body="متن تولید شده"
    )
    assert (version.number, version.source, version.title) == (2, "generation", "عنوان")
    final = await Content.get(id=content.id)
    assert (final.status, final.body, final.word_count) == ("draft", "متن تولید شده", 3)
    assert await _actions(content.id) == ["created", "generation_started", "generated"]
    with pytest.raises(Conflict) as caught:
        await service.finish_generation(
            content_id=content.id, job_id=None, actor_id=None, body="again"
        )
    assert caught.value.code == "content_not_generating"


async def test_aborted_generation_returns_rejected_content_to_rejected(
    service: ContentService, world: World
) -> None:
    content = await _in_review(service, world)
    await service.reject(
        actor=await principal_for(world.editor), content_id=content.id, reason="دوباره"
    )
    ticket = await service.begin_generation(
        actor=await principal_for(world.editor), content_id=content.id
    )
    assert ticket.previous_status == ContentStatus.REJECTED
    assert await service.abort_generation(
        content_id=content.id, previous_status=ticket.previous_status, error="llm_unavailable"
    )
    assert (await Content.get(id=content.id)).status == ContentStatus.REJECTED
    assert not await service.abort_generation(
        content_id=content.id, previous_status=ContentStatus.DRAFT
    )
    entry = await AuditLog.filter(content_ref=content.id, action="generation_failed").get()
    assert (entry.new_status, entry.note) == ("rejected", "llm_unavailable")


async def test_generation_permissions_and_states(service: ContentService, world: World) -> None:
    draft = await _draft(service, world)
    with pytest.raises(NotFound):
        await service.begin_generation(
            actor=await principal_for(world.other_writer), content_id=draft.id
        )
    approved = await _approved(service, world)
    with pytest.raises(PermissionDenied):
        await service.begin_generation(
            actor=await principal_for(world.viewer), content_id=approved.id
        )
    with pytest.raises(Conflict) as caught:
        await service.begin_generation(
            actor=await principal_for(world.writer), content_id=approved.id
        )
    assert caught.value.code == "content_approved"


async def test_two_generations_at_once_start_one(service: ContentService, world: World) -> None:
    content = await _draft(service, world)
    results = await asyncio.gather(
        service.begin_generation(actor=await principal_for(world.writer), content_id=content.id),
        service.begin_generation(actor=await principal_for(world.editor), content_id=content.id),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "GenerationTicket"]
