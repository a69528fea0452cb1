"""Contents, their numbered versions and the review workflow (docs/architecture.md §1 and §4).

Who may see a content item (anything else answers ``NotFound``, exactly like an unknown id or
another tenant's, so nobody learns that it exists):

* admin and editor: every content item of the organisation;
* writer: their own content, and approved content;
* viewer: approved content.

Checks run in one order, so an answer never depends on the state of something hidden: visible
(else 404), then role (``PermissionDenied``, 403), then input (400), then state (``Conflict``, 409).

Status machine, each transition one conditional ``UPDATE … WHERE status = expected`` whose row
count is checked, and one audit entry in the same transaction::

    draft --submit--> review --approve--> approved      (frozen: edits answer 409)
      ^  \\                   \\--reject--> rejected --edit or generation--> draft
      |   \\--begin_generation--> generating --finish--> draft (new version)
      |                                     \\--abort--> the status it came from

Decisions taken here (not spelled out by docs/architecture.md):

* Approved content is frozen: an edit, submit or generation answers 409 ``content_approved``;
  only an editor or admin may delete it. A new revision is a new content item.
* While content is in review its author cannot edit it (409 ``content_in_review``); an editor can
  (to fix a typo before approving), and approval records the version current at that instant.
* A rejection's reason, decider and time stay on the content after the edit that returns it to
  draft, so the writer sees why; submitting again clears them.
* Version history (``list_versions``) is for those who may edit the content, not for every reader.

For the generation service: :meth:`ContentService.begin_generation`, ``finish_generation``,
``abort_generation`` (status and audit).
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F, Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core.clock import Clock
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.llm.pii import scan
from core.notify import Notifier
from core.presentation import display_name
from core.security.principal import Principal
from core.services import content_detail
from core.services.audit import AuditAction, AuditService
from core.services.common import (
    MAX_LIMIT,
    Listing,
    check_characters,
    fetch_listing,
    is_invisible,
    strip_control_characters,
)
from core.services.content_listing import (
    ContentSummary,
    ListFilters,
    fetch_summaries,
    served_by_sql,
)
from core.services.list_totals import ListTotals
from core.services.permissions import Action, authorize, may, role_of
from core.services.unlocking import UnlockHorizon
from core.text.normalize import normalize_prose, normalize_text, persian_digits
from db import raw
from db.models import (
    Content,
    ContentStatus,
    ContentVersion,
    Project,
    Prompt,
    Role,
    User,
    VersionSource,
    Workspace,
)

TARGET = "content"
MAX_TITLE_CHARS = 500
MAX_BODY_CHARS = 100_000
MAX_NOTE_CHARS = 2_000
MIN_SEARCH_CHARS = 3
ResultT = TypeVar("ResultT")
MAX_VARIABLES = 50
MAX_VARIABLE_NAME_CHARS = 64
MAX_VARIABLE_VALUE_CHARS = 5_000
EDITABLE_FROM = (ContentStatus.DRAFT, ContentStatus.REJECTED, ContentStatus.REVIEW)
GENERATABLE_FROM = (ContentStatus.DRAFT, ContentStatus.REJECTED)
DECIDED = (ContentStatus.APPROVED, ContentStatus.REJECTED)


def live_contents() -> QuerySet[Content]:
    """Content that exists for every path: not deleted, and its project, workspace and
    organisation all active. Retiring a workspace or project retires what is in it (lists,
    detail, edits, generation, and the bot's menus), without touching the rows themselves."""
    return Content.filter(
        deleted_at=None,
        project__is_active=True,
        workspace__is_active=True,
        organization__is_active=True,
    )


def count_words(text: str) -> int:
    """Whitespace-separated tokens with a letter or digit (ZWNJ keeps می‌خواهم one word)."""
    return sum(1 for token in text.split() if any(char.isalnum() for char in token))


def search_terms(search: str) -> list[str]:
    """The normalised term, and its Persian-digit spelling when it has digits (bodies keep both).

    A term shorter than ``MIN_SEARCH_CHARS`` is ``search_too_short``: it would match nearly
    everything, and a trigram index cannot serve it (PostgreSQL, db/migrations/0006).
    """
    term = normalize_text(search).replace("\x00", "").strip()
    if not term:
        return []
    if len(term) < MIN_SEARCH_CHARS:
        raise InvalidInput("search_too_short", field="search", min_length=MIN_SEARCH_CHARS)
    persian = persian_digits(term)
    return [term] if persian == term else [term, persian]


@dataclass(frozen=True)
class GenerationTicket:
    """What ``begin_generation`` hands back: the content (now generating) and where it came from.

    Keep ``previous_status`` with the job (e.g. in ``GenerationJob.params``): ``abort_generation``
    needs it to put the content back, also from a reaper in another process.
    """

    content: Content
    previous_status: ContentStatus


def _explains_lock(
    method: Callable[..., Awaitable[ResultT]],
) -> Callable[..., Awaitable[ResultT]]:
    """A 409 ``content_generating`` from ``method`` also says when the author may unlock.

    Looked up after the method's transaction has ended, so no row lock is held meanwhile.
    """

    @functools.wraps(method)
    async def explained(self: ContentService, **kwargs: Any) -> ResultT:
        try:
            return await method(self, **kwargs)
        except Conflict as error:
            if self._horizon is not None:
                await self._horizon.explain(error, int(kwargs["content_id"]))
            raise

    return explained


class ContentService:
    """Every read and write of content, with the role matrix and tenant check inside."""

    def __init__(
        self,
        *,
        clock: Clock,
        notifier: Notifier,
        audit: AuditService,
        horizon: UnlockHorizon | None = None,
        totals: ListTotals | None = None,
    ) -> None:
        self._clock = clock
        self._notifier = notifier
        self._audit = audit
        # Says in a 409 content_generating when the author may unlock it (none: the 409 alone).
        self._horizon = horizon
        # Cached list totals: every write below that can change a count marks its organisation
        # after its commit (a caller passing ``connection`` marks after its own commit).
        self._totals = totals or ListTotals(None, key_prefix="", ttl_seconds=0)

    @property
    def totals(self) -> ListTotals:
        """The list totals this service keeps, for callers that own the transaction."""
        return self._totals

    # --- reads ---------------------------------------------------------------------------------

    async def get(self, *, actor: Principal, content_id: int) -> Content:
        """The content if the actor may see it; ``NotFound`` otherwise."""
        content, _ = await self._visible(actor, content_id)
        return content

    async def list_contents(
        self,
        *,
        actor: Principal,
        organization_id: int | None = None,
        workspace_id: int | None = None,
        project_id: int | None = None,
        status: ContentStatus | None = None,
        search: str | None = None,
        author_id: int | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> Listing[Content]:
        """One newest-first page of what the actor may see, in all their organisations.

        A filter naming an organisation, workspace or project the actor cannot see (another
        tenant's, unknown, retired) is ``NotFound``, as in every other list.
        """
        await _require_filters_visible(actor, organization_id, workspace_id, project_id)
        visible = self._visibility_filter(actor)
        if visible is None:
            return Listing(count=0, items=[])
        query = live_contents().filter(visible)
        if organization_id is not None:
            query = query.filter(organization_id=organization_id)
        if workspace_id is not None:
            query = query.filter(workspace_id=workspace_id)
        if project_id is not None:
            query = query.filter(project_id=project_id)
        if status is not None:
            query = query.filter(status=status)
        if author_id is not None:
            query = query.filter(created_by_id=author_id)
        terms = search_terms(search or "")
        if terms:
            matches = [Q(title__icontains=t) | Q(body__icontains=t) for t in terms]
            query = query.filter(Q(*matches, join_type="OR"))
        # Newest first by id: the primary key index serves it; created_at can tie.
        return await fetch_listing(query, offset=offset, limit=limit, order_by=("-id",))

    async def list_summaries(
        self,
        *,
        actor: Principal,
        organization_id: int | None = None,
        workspace_id: int | None = None,
        project_id: int | None = None,
        status: ContentStatus | None = None,
        search: str | None = None,
        author_id: int | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> Listing[ContentSummary]:
        """:meth:`list_contents` as lists show it (an excerpt for the body), in one query where
        it can be (``core/services/content_listing.py``), else through the ORM."""
        offset, limit = max(0, offset), max(1, min(limit, MAX_LIMIT))
        if served_by_sql(search):
            await _require_filters_visible(actor, organization_id, workspace_id, project_id)
            filters = ListFilters(organization_id, workspace_id, project_id, status, author_id)
            page = await fetch_summaries(
                roles=actor.roles,
                user_id=actor.user_id,
                filters=filters,
                offset=offset,
                limit=limit,
                totals=self._totals if self._totals.enabled else None,
            )
            if page is not None:
                return Listing(count=page[0], items=page[1])
        listing = await self.list_contents(
            actor=actor,
            organization_id=organization_id,
            workspace_id=workspace_id,
            project_id=project_id,
            status=status,
            search=search,
            author_id=author_id,
            offset=offset,
            limit=limit,
        )
        return Listing(count=listing.count, items=[ContentSummary.of(c) for c in listing.items])

    async def list_versions(
        self, *, actor: Principal, content_id: int, offset: int = 0, limit: int = 20
    ) -> Listing[ContentVersion]:
        """One newest-first page of the content's versions, for those who may edit it."""
        content, role = await self._visible(actor, content_id)
        _require_edit(role, actor, content)
        query = ContentVersion.filter(content_id=content.id)
        return await fetch_listing(query, offset=offset, limit=limit, order_by=("-number",))

    # --- writes --------------------------------------------------------------------------------

    async def create(
        self,
        *,
        actor: Principal,
        project_id: int,
        title: str,
        body: str = "",
        prompt_id: int | None = None,
        variables: dict[str, Any] | None = None,
    ) -> Content:
        """A draft in ``project`` with version 1 (writer+ of the project's organisation)."""
        project = (
            await Project.filter(id=project_id, is_active=True, workspace__is_active=True)
            .select_related("workspace")
            .first()
        )
        if project is None:
            raise NotFound()
        organization_id = project.workspace.organization_id
        authorize(actor, organization_id, Action.CREATE_CONTENT)
        title, body = _clean_title(title), _clean_body(body)
        variables = _clean_variables(variables or {})
        if prompt_id is not None:
            await _require_prompt(prompt_id, organization_id, project.workspace_id)
        findings = await _pii(title, body)
        now = self._clock.now()
        async with in_transaction() as conn:
            content = await Content.create(
                using_db=conn,
                organization_id=organization_id,
                workspace_id=project.workspace_id,
                project_id=project.id,
                prompt_id=prompt_id,
                title=title,
                body=body,
                status=ContentStatus.DRAFT,
                variables=variables,
                word_count=count_words(body),
                has_pii=bool(findings),
                pii_findings=findings,
                version_count=1,
                created_by_id=actor.user_id,
                created_at=now,
            )
            await ContentVersion.create(
                using_db=conn,
                content_id=content.id,
                number=1,
                title=title,
                body=body,
                source=VersionSource.CREATED,
                created_by_id=actor.user_id,
                created_at=now,
            )
            await self._record(
                conn,
                content,
                actor_id=actor.user_id,
                action=AuditAction.CREATED,
                new_status=ContentStatus.DRAFT,
                changes={"version": 1},
            )
        await self._totals.changed(organization_id)
        return content

    @_explains_lock
    async def update(
        self,
        *,
        actor: Principal,
        content_id: int,
        title: str | None = None,
        body: str | None = None,
        variables: dict[str, Any] | None = None,
    ) -> Content:
        """Edit title, body or variables (``None`` keeps one); a text change adds a version.

        Rejected content returns to draft. An edit that changes nothing writes nothing.
        """
        content, role = await self._visible(actor, content_id)
        _require_edit(role, actor, content)
        edit = _Edit.of(title=title, body=body, variables=variables)
        # The PII scan takes a thread and, for a long body, seconds: never under the row lock.
        scanned = edit.text_over(content)
        findings = None if scanned is None else await self.scan_answer(*scanned)
        async with in_transaction() as conn:
            # The row lock makes the state check, the old values in the audit entry and the
            # version number exact under concurrent edits (SQLite serialises transactions).
            current = await _locked(conn, content_id)
            _require_editable(current, role)
            fields = edit.changed_fields(current)
            if not fields:
                return current
            new_status = _status_after_edit(current.status)
            extra = edit.column_values(new_status)
            # Field names only: the text itself is in the versions, and values may hold PII.
            changes: dict[str, Any] = {"fields": fields}
            if "title" in fields or "body" in fields:
                changes["version"] = await self._save_text_edit(
                    conn,
                    current,
                    edit,
                    actor=actor,
                    extra=extra,
                    scanned=scanned,
                    findings=findings,
                )
            else:
                await _conditional_update(
                    conn, content_id, current.status, updated_at=self._clock.now(), **extra
                )
            await self._record(
                conn,
                current,
                actor_id=actor.user_id,
                action=AuditAction.UPDATED,
                old_status=current.status,
                new_status=new_status,
                changes=changes,
            )
        if new_status != current.status:  # rejected -> draft
            await self._totals.changed(current.organization_id)
        return await Content.get(id=content_id)

    async def _save_text_edit(
        self,
        conn: BaseDBAsyncClient,
        current: Content,
        edit: _Edit,
        *,
        actor: Principal,
        extra: dict[str, Any],
        scanned: tuple[str, str] | None,
        findings: Any,
    ) -> int:
        """Write the edited text as a new version (with ``extra`` columns); its number.

        ``findings`` are the PII scan of ``scanned``, made before the row lock.
        """
        text = edit.text_over(current)
        assert text is not None  # the title or the body changed
        if findings is None or text != scanned:
            # The field kept changed since the scan (a concurrent edit): rare, rescan.
            findings = await self.scan_answer(*text)
        version = await self._write_version(
            conn,
            current,
            title=edit.title,
            body=text[1],
            source=VersionSource.EDIT,
            actor_id=actor.user_id,
            job_id=None,
            extra=extra,
            findings=findings,
        )
        return version.number

    @_explains_lock
    async def delete(self, *, actor: Principal, content_id: int) -> None:
        """Soft-delete: the content disappears for everyone; its audit trail stays."""
        content, role = await self._visible(actor, content_id)
        _require_edit(role, actor, content)
        async with in_transaction() as conn:
            current = await _locked(conn, content_id)
            if current.status == ContentStatus.GENERATING:
                raise Conflict("content_generating", current_status=current.status.value)
            if current.status == ContentStatus.APPROVED and not may(role, Action.EDIT_ANY_CONTENT):
                raise PermissionDenied(action="delete_approved_content")
            now = self._clock.now()
            await _conditional_update(
                conn, content_id, current.status, deleted_at=now, updated_at=now
            )
            await self._record(
                conn,
                current,
                actor_id=actor.user_id,
                action=AuditAction.DELETED,
                old_status=current.status,
            )
        await self._totals.changed(current.organization_id)

    @_explains_lock
    async def submit(self, *, actor: Principal, content_id: int) -> Content:
        """Draft -> review (its author or an editor+); editors are notified in its transaction."""
        content, role = await self._visible(actor, content_id)
        _require_edit(role, actor, content)
        now = self._clock.now()
        async with in_transaction() as conn:
            # word_count > 0 in the same WHERE: an empty draft cannot slip into review.
            done = (
                await Content.filter(
                    id=content_id, deleted_at=None, status=ContentStatus.DRAFT, word_count__gt=0
                )
                .using_db(conn)
                .update(
                    status=ContentStatus.REVIEW,
                    submitted_at=now,
                    decided_by_id=None,
                    decided_at=None,
                    rejection_reason=None,
                    updated_at=now,
                )
            )
            if done:
                await self._record(
                    conn,
                    content,
                    actor_id=actor.user_id,
                    action=AuditAction.SUBMITTED,
                    old_status=ContentStatus.DRAFT,
                    new_status=ContentStatus.REVIEW,
                )
                submitted = await Content.get(id=content_id).using_db(conn)
                # In the transaction: the reviewers' notifications commit with the submit.
                await self._notifier.content_submitted(
                    connection=conn, content=submitted, by=actor.user
                )
        if done:
            await self._totals.changed(content.organization_id)
        if not done:
            current = await _current(content_id)
            if current.status == ContentStatus.DRAFT:
                raise Conflict("content_empty", current_status=current.status.value)
            raise _state_conflict(current)
        return submitted

    async def approve(
        self, *, actor: Principal, content_id: int, note: str | None = None
    ) -> Content:
        """Review -> approved (editor+), recording the version approved, who and when."""
        content, role = await self._visible(actor, content_id)
        if not may(role, Action.DECIDE_CONTENT):
            raise PermissionDenied(action=Action.DECIDE_CONTENT.value)
        note = _clean_note(note)
        return await self._decide(
            actor,
            content,
            AuditAction.APPROVED,
            note=note,
            status=ContentStatus.APPROVED,
            approved_version=F("version_count"),
            rejection_reason=None,
        )

    async def reject(self, *, actor: Principal, content_id: int, reason: str) -> Content:
        """Review -> rejected (editor+) with a non-empty reason the author will see."""
        content, role = await self._visible(actor, content_id)
        if not may(role, Action.DECIDE_CONTENT):
            raise PermissionDenied(action=Action.DECIDE_CONTENT.value)
        reason = _clean_note(reason) or ""
        if not reason:
            raise InvalidInput("reason_required", field="reason")
        return await self._decide(
            actor,
            content,
            AuditAction.REJECTED,
            note=reason,
            status=ContentStatus.REJECTED,
            approved_version=None,
            rejection_reason=reason,
        )

    # --- generation (called by the generation service) -----------------------------------------

    async def begin_generation(
        self, *, actor: Principal, content_id: int, connection: BaseDBAsyncClient | None = None
    ) -> GenerationTicket:
        """Draft or rejected -> generating, after the same checks as an edit (writer own, editor+).

        Pass ``connection`` to make it part of your transaction (e.g. with the job row and the
        usage reservation), and call ``totals.changed`` after it commits; a 409
        ``content_generating`` means a job already runs for it.
        """
        content, role = await self._visible(actor, content_id)
        _require_edit(role, actor, content)
        if not may(role, Action.GENERATE):
            raise PermissionDenied(action=Action.GENERATE.value)
        now = self._clock.now()
        ticket = None
        async with _transaction(connection) as conn:
            # Try each status it may start from, so the one it left is known exactly.
            for previous in GENERATABLE_FROM:
                done = await _conditional_update(
                    conn, content_id, previous, status=ContentStatus.GENERATING, updated_at=now
                )
                if done:
                    await self._record(
                        conn,
                        content,
                        actor_id=actor.user_id,
                        action=AuditAction.GENERATION_STARTED,
                        old_status=previous,
                        new_status=ContentStatus.GENERATING,
                    )
                    started = await Content.get(id=content_id).using_db(conn)
                    ticket = GenerationTicket(content=started, previous_status=previous)
                    break
        if ticket is None:
            raise _state_conflict(await _current(content_id))
        if connection is None:
            await self._totals.changed(content.organization_id)
        return ticket

    async def bind_generation(
        self, *, content_id: int, job_id: int, connection: BaseDBAsyncClient
    ) -> None:
        """Make ``job_id`` the content's current job (in the transaction that started it).

        Only the current job may finish or abort the generation: a job reaped as dead that
        answers late finds another job (or none) current and touches nothing.
        """
        await (
            Content.filter(id=content_id, status=ContentStatus.GENERATING)
            .using_db(connection)
            .update(current_job_id=job_id)
        )

    async def scan_answer(self, title: str, body: str) -> dict[str, int]:
        """PII findings of a text about to be stored (a thread: seconds on a long body).

        Call it before opening a transaction and pass the result in, so no row lock is held
        while the scanner runs.
        """
        return await _pii(_clean_title(title), _clean_body(body))

    async def finish_generation(
        self,
        *,
        content_id: int,
        job_id: int | None,
        actor_id: int | None,
        body: str,
        title: str | None = None,
        pii_findings: dict[str, int] | None = None,
        connection: BaseDBAsyncClient | None = None,
        incomplete: bool = False,
    ) -> ContentVersion:
        """Generating -> draft with the generated text as a new version (source ``generation``).

        ``incomplete``: the text is what arrived of an answer cut short (the stream broke, or
        the process shut down), kept because it was billed; the version says so.

        No permission check: ``begin_generation`` did it. ``Conflict("content_not_generating")``
        when the content is no longer generating for ``job_id`` (e.g. a reaper aborted it
        meanwhile, and maybe a newer job runs). ``pii_findings`` is what to store (from
        :meth:`scan_answer`, taken before the transaction); omitted, the text is scanned here,
        before the transaction.
        """
        # The model's text, not a person's: characters no text may hold are dropped, not refused.
        new_title = None if title is None else _clean_title(strip_control_characters(title))
        new_body = _clean_body(strip_control_characters(body))
        if pii_findings is None:
            # The title cannot change while generating (edits are refused): read it now.
            kept = await Content.get_or_none(id=content_id).values_list("title", flat=True)
            pii_findings = await _pii((kept or "") if new_title is None else new_title, new_body)
        async with _transaction(connection) as conn:
            current = await _locked(conn, content_id)
            if current.status != ContentStatus.GENERATING or current.current_job_id != job_id:
                raise Conflict("content_not_generating", current_status=current.status.value)
            version = await self._write_version(
                conn,
                current,
                title=new_title,
                body=new_body,
                source=VersionSource.GENERATION,
                actor_id=actor_id,
                job_id=job_id,
                extra={"status": ContentStatus.DRAFT, "current_job_id": None},
                findings=pii_findings,
                incomplete=incomplete,
            )
            await self._record(
                conn,
                current,
                actor_id=actor_id,
                action=AuditAction.GENERATED,
                old_status=ContentStatus.GENERATING,
                new_status=ContentStatus.DRAFT,
                changes={"version": version.number, "job": job_id}
                | ({"incomplete": True} if incomplete else {}),
            )
        if connection is None:
            await self._totals.changed(current.organization_id)
        return version

    async def abort_generation(
        self,
        *,
        content_id: int,
        previous_status: ContentStatus,
        actor_id: int | None = None,
        job_id: int | None = None,
        error: str | None = None,
        connection: BaseDBAsyncClient | None = None,
    ) -> bool:
        """Generating -> ``previous_status`` (draft or rejected); False if it was not generating
        for ``job_id`` (another job is current now, or none).

        ``error`` (a DomainError code) goes into the audit entry's note.
        """
        if previous_status not in GENERATABLE_FROM:
            raise ValueError(f"cannot return to {previous_status!r}")
        async with _transaction(connection) as conn:
            done = await (
                Content.filter(
                    id=content_id,
                    deleted_at=None,
                    status=ContentStatus.GENERATING,
                    current_job_id=job_id,
                )
                .using_db(conn)
                .update(status=previous_status, current_job_id=None, updated_at=self._clock.now())
            )
            if not done:
                return False
            organization_id = await _organization_of(conn, content_id)
            await self._audit.record(
                connection=conn,
                organization_id=organization_id,
                actor_id=actor_id,
                action=AuditAction.GENERATION_FAILED,
                target_type=TARGET,
                target_id=content_id,
                content_ref=content_id,
                old_status=ContentStatus.GENERATING,
                new_status=previous_status,
                changes={"job": job_id},
                note=error,
            )
        if connection is None:
            await self._totals.changed(organization_id)
        return True

    async def _visible(self, actor: Principal, content_id: int) -> tuple[Content, Role]:
        """The live content and the actor's role in its organisation, or ``NotFound``."""
        if (client := raw.postgres()) is not None:
            content = await content_detail.fetch_live_content(client, content_id)
        else:
            content = await live_contents().get_or_none(id=content_id)
        if content is None:
            raise NotFound()
        role = role_of(actor, content.organization_id)
        if not _can_read(role, actor, content):
            raise NotFound()
        return content, role

    def _visibility_filter(self, actor: Principal) -> Q | None:
        """One ``Q`` for everything the actor may see across their organisations (None: nothing)."""
        rows = sorted(actor.roles.items())
        everything = [org for org, role in rows if may(role, Action.READ_ANY_CONTENT)]
        writers = [
            org
            for org, role in rows
            if may(role, Action.CREATE_CONTENT) and not may(role, Action.READ_ANY_CONTENT)
        ]
        viewers = [org for org, role in rows if not may(role, Action.CREATE_CONTENT)]
        clauses = []
        if everything:
            clauses.append(Q(organization_id__in=everything))
        if writers:
            mine_or_approved = Q(created_by_id=actor.user_id) | Q(status=ContentStatus.APPROVED)
            clauses.append(Q(organization_id__in=writers) & mine_or_approved)
        if viewers:
            clauses.append(Q(organization_id__in=viewers, status=ContentStatus.APPROVED))
        return Q(*clauses, join_type="OR") if clauses else None

    async def _decide(
        self,
        actor: Principal,
        content: Content,
        action: AuditAction,
        *,
        note: str | None,
        status: ContentStatus,
        **fields: Any,
    ) -> Content:
        """Review -> ``status`` as one conditional update; the loser of a race learns who won."""
        now = self._clock.now()
        async with in_transaction() as conn:
            done = (
                await Content.filter(id=content.id, deleted_at=None, status=ContentStatus.REVIEW)
                .using_db(conn)
                .update(
                    status=status,
                    decided_by_id=actor.user_id,
                    decided_at=now,
                    updated_at=now,
                    **fields,
                )
            )
            if done:
                # Our UPDATE holds the row lock, so this reads exactly what we decided.
                decided = await Content.get(id=content.id).using_db(conn)
                await self._record(
                    conn,
                    decided,
                    actor_id=actor.user_id,
                    action=action,
                    old_status=ContentStatus.REVIEW,
                    new_status=status,
                    changes={"version": decided.version_count},
                    note=note,
                )
                await self._notifier.content_decided(
                    connection=conn, content=decided, by=actor.user
                )
        if not done:
            raise await decision_conflict(content.id)
        await self._totals.changed(content.organization_id)
        return decided

    async def _write_version(
        self,
        conn: BaseDBAsyncClient,
        current: Content,
        *,
        title: str | None,
        body: str,
        source: VersionSource,
        actor_id: int | None,
        job_id: int | None,
        extra: dict[str, Any],
        findings: dict[str, int],
        incomplete: bool = False,
    ) -> ContentVersion:
        """Make ``title`` (None: keep) and ``body`` current and record them as the next version.

        ``findings`` is the PII scan of the stored title and body, taken by the caller before
        its transaction.

        ``current`` must be the row locked by the caller's transaction (``_locked``), so its
        ``version_count`` is exact; the WHERE repeats it as a guard and the unique (content,
        number) constraint backs both.
        """
        now = self._clock.now()
        title = current.title if title is None else title
        number = current.version_count + 1
        done = (
            await Content.filter(
                id=current.id, deleted_at=None, version_count=current.version_count
            )
            .using_db(conn)
            .update(
                title=title,
                body=body,
                word_count=count_words(body),
                has_pii=bool(findings),
                pii_findings=findings,
                version_count=number,
                updated_at=now,
                **extra,
            )
        )
        if not done:  # only without the row lock, i.e. a caller that skipped _locked
            raise Conflict("content_changed")
        return await ContentVersion.create(
            using_db=conn,
            content_id=current.id,
            number=number,
            title=title,
            body=body,
            source=source,
            job_id=job_id,
            created_by_id=actor_id,
            created_at=now,
            incomplete=incomplete,
        )

    async def _record(
        self,
        conn: BaseDBAsyncClient,
        content: Content,
        *,
        actor_id: int | None,
        action: AuditAction,
        old_status: ContentStatus | None = None,
        new_status: ContentStatus | None = None,
        changes: dict[str, Any] | None = None,
        note: str | None = None,
    ) -> None:
        await self._audit.record(
            connection=conn,
            organization_id=content.organization_id,
            actor_id=actor_id,
            action=action,
            target_type=TARGET,
            target_id=content.id,
            content_ref=content.id,
            old_status=old_status,
            new_status=new_status,
            changes=changes,
            note=note,
        )


# --- rules ---------------------------------------------------------------------------------


async def _require_filters_visible(
    actor: Principal, organization_id: int | None, workspace_id: int | None, project_id: int | None
) -> None:
    """``NotFound`` unless each filter given names something live in one of the actor's orgs."""
    if organization_id is not None:
        role_of(actor, organization_id)
    if workspace_id is not None:
        workspace = await Workspace.get_or_none(id=workspace_id, is_active=True)
        if workspace is None:
            raise NotFound()
        role_of(actor, workspace.organization_id)
    if project_id is not None:
        project = (
            await Project.filter(id=project_id, is_active=True, workspace__is_active=True)
            .select_related("workspace")
            .first()
        )
        if project is None:
            raise NotFound()
        role_of(actor, project.workspace.organization_id)


def _can_read(role: Role, actor: Principal, content: Content) -> bool:
    if may(role, Action.READ_ANY_CONTENT) or content.status == ContentStatus.APPROVED:
        return True
    return may(role, Action.CREATE_CONTENT) and content.created_by_id == actor.user_id


def _require_edit(role: Role, actor: Principal, content: Content) -> None:
    """Editors edit anything; writers only their own content."""
    if may(role, Action.EDIT_ANY_CONTENT):
        return
    if may(role, Action.CREATE_CONTENT) and content.created_by_id == actor.user_id:
        return
    raise PermissionDenied(action=Action.EDIT_ANY_CONTENT.value)


@dataclass(frozen=True)
class _Edit:
    """What an update asks for, cleaned; ``None`` keeps a field as it is."""

    title: str | None
    body: str | None
    variables: dict[str, Any] | None

    @classmethod
    def of(cls, *, title: str | None, body: str | None, variables: dict[str, Any] | None) -> _Edit:
        return cls(
            title=None if title is None else _clean_title(title),
            body=None if body is None else _clean_body(body),
            variables=None if variables is None else _clean_variables(variables),
        )

    def text_over(self, content: Content) -> tuple[str, str] | None:
        """(title, body) of ``content`` after this edit; ``None`` when it touches neither."""
        if self.title is None and self.body is None:
            return None
        return (
            content.title if self.title is None else self.title,
            content.body if self.body is None else self.body,
        )

    def changed_fields(self, content: Content) -> list[str]:
        """The names of the fields this edit changes in ``content`` (empty: a no-op)."""
        return [
            name
            for name, new, old in (
                ("title", self.title, content.title),
                ("body", self.body, content.body),
                ("variables", self.variables, content.variables),
            )
            if new is not None and new != old
        ]

    def column_values(self, status: ContentStatus) -> dict[str, Any]:
        """The columns every write of this edit sets besides the text (which a version sets)."""
        values: dict[str, Any] = {"status": status}
        if self.variables is not None:
            values["variables"] = self.variables
        return values


def _status_after_edit(status: ContentStatus) -> ContentStatus:
    """An edit returns rejected content to draft; any other state stays."""
    return ContentStatus.DRAFT if status == ContentStatus.REJECTED else status


def _require_editable(content: Content, role: Role) -> None:
    """Frozen when approved or generating; in review only an editor+ may touch the text."""
    if content.status not in EDITABLE_FROM:
        raise _state_conflict(content)
    if content.status == ContentStatus.REVIEW and not may(role, Action.EDIT_ANY_CONTENT):
        raise _state_conflict(content)


def _state_conflict(content: Content) -> Conflict:
    """The 409 that says what state the content is in."""
    codes = {
        ContentStatus.DRAFT: "content_not_in_review",
        ContentStatus.GENERATING: "content_generating",
        ContentStatus.REVIEW: "content_in_review",
        ContentStatus.APPROVED: "content_approved",
        ContentStatus.REJECTED: "content_rejected",
    }
    return Conflict(codes[content.status], current_status=content.status.value)


async def decision_conflict(content_id: int) -> Conflict:
    """Why a decision matched no row: someone decided first (and who), or it is not in review."""
    current = await _current(content_id)
    if current.status in DECIDED:
        decider = (
            await User.get_or_none(id=current.decided_by_id) if current.decided_by_id else None
        )
        # The envelope names the decider as other members see a person (core/presentation.py).
        return Conflict(
            "already_decided", decided_by=display_name(decider), current_status=current.status.value
        )
    return _state_conflict(current)


async def _current(content_id: int) -> Content:
    """A fresh read after a conditional update missed; deleted meanwhile is ``NotFound``."""
    content = await live_contents().get_or_none(id=content_id)
    if content is None:
        raise NotFound()
    return content


async def _locked(conn: BaseDBAsyncClient, content_id: int) -> Content:
    content = (
        await Content.filter(id=content_id, deleted_at=None)
        .select_for_update()
        .using_db(conn)
        .first()
    )
    if content is None:
        raise NotFound()
    return content


async def _conditional_update(
    conn: BaseDBAsyncClient, content_id: int, expected: ContentStatus, **fields: Any
) -> int:
    return (
        await Content.filter(id=content_id, deleted_at=None, status=expected)
        .using_db(conn)
        .update(**fields)
    )


async def _organization_of(conn: BaseDBAsyncClient, content_id: int) -> int:
    rows = (
        await Content.filter(id=content_id).using_db(conn).values_list("organization_id", flat=True)
    )
    return rows[0]


async def _require_prompt(prompt_id: int, organization_id: int, workspace_id: int) -> None:
    """The prompt must belong to the organisation (or this workspace); otherwise 404, as for
    every other id the caller cannot see (another tenant's prompt looks like no prompt)."""
    usable = await Prompt.filter(
        Q(workspace_id=None) | Q(workspace_id=workspace_id),
        id=prompt_id,
        organization_id=organization_id,
        is_active=True,
    ).exists()
    if not usable:
        raise NotFound("unknown_prompt", field="prompt")


@asynccontextmanager
async def _transaction(connection: BaseDBAsyncClient | None) -> AsyncIterator[BaseDBAsyncClient]:
    """The caller's transaction when given, else a new one."""
    if connection is not None:
        yield connection
        return
    async with in_transaction() as conn:
        yield conn


async def _pii(title: str, body: str) -> dict[str, int]:
    # A thread: a 100,000-character body full of digit runs takes the scanner seconds.
    return await asyncio.to_thread(scan, f"{title}\n{body}")


def _clean_title(title: str) -> str:
    cleaned = " ".join(check_characters(normalize_prose(title), field="title").split())
    if is_invisible(cleaned):
        raise InvalidInput("title_required", field="title")
    if len(cleaned) > MAX_TITLE_CHARS:
        raise InvalidInput("title_too_long", field="title", max_length=MAX_TITLE_CHARS)
    return cleaned


def _clean_body(body: str) -> str:
    if len(body) > MAX_BODY_CHARS:
        raise InvalidInput("body_too_long", field="body", max_length=MAX_BODY_CHARS)
    return check_characters(normalize_prose(body), field="body").strip()


def _clean_note(note: str | None) -> str | None:
    if note is None:
        return None
    cleaned = check_characters(normalize_prose(note), field="note").strip()
    if len(cleaned) > MAX_NOTE_CHARS:
        raise InvalidInput("note_too_long", max_length=MAX_NOTE_CHARS)
    return cleaned or None


def _clean_variables(variables: dict[str, Any]) -> dict[str, Any]:
    """Flat name -> scalar values (typed checks against the prompt happen at generation)."""
    if not isinstance(variables, dict) or len(variables) > MAX_VARIABLES:
        raise InvalidInput("invalid_content_variables", field="variables")
    cleaned: dict[str, Any] = {}
    for raw_name, value in variables.items():
        name = normalize_prose(raw_name).strip() if isinstance(raw_name, str) else ""
        if not 0 < len(name) <= MAX_VARIABLE_NAME_CHARS:
            raise InvalidInput("invalid_content_variables", field="variables")
        # Before the name is echoed in an error: a lone surrogate cannot even be encoded.
        check_characters(name, field="variables")
        if isinstance(value, str):
            if len(value) > MAX_VARIABLE_VALUE_CHARS:
                raise InvalidInput("invalid_content_variables", field=f"variables.{name}")
            value = check_characters(normalize_prose(value), field=f"variables.{name}")
        elif not _is_json_scalar(value):
            raise InvalidInput("invalid_content_variables", field=f"variables.{name}")
        cleaned[name] = value
    return cleaned


def _is_json_scalar(value: object) -> bool:
    """None, a bool, an int or a finite float (JSONB refuses NaN and infinities)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, bool | int)
