"""The content list's rows (``ContentSummary``) and its hot path: one parameterised query.

The REST list is the busiest read. Through the ORM it costs a count and a page (two round trips,
two scans), 20 whole bodies fetched only to be cut to an excerpt, and pypika building the same
SQL text anew each time. On PostgreSQL, without a text search, :func:`fetch_summaries` asks
once: the page's ids with ``count(*) OVER ()`` (the total from the same scan), joined back to
their rows with only ``left(body, EXCERPT_FETCH_CHARS)``, so no body beyond the excerpt is read.
That count still scans every visible row; with Redis the total is cached per filter
(``core/services/list_totals.py``) and a request that finds it reads only its page, which the
primary key index serves newest first, stopping after the page's rows.
The visibility rule is the one of ``ContentService._visibility_filter`` (docs/architecture.md
§1), spelled in SQL; ``tests/services/test_content_listing.py`` checks that both paths return
exactly the same summaries for every role and filter. Everything else (SQLite, a search, a page
past the end) goes through the ORM path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from tortoise import connections

from core.services.list_totals import ListTotals
from core.services.permissions import Action, may
from core.text.excerpt import EXCERPT_FETCH_CHARS, excerpt
from db import raw
from db.models import Content, ContentStatus, Role


@dataclass(frozen=True, slots=True)
class ContentSummary:
    """A content item as lists show it: the body's excerpt instead of the body."""

    id: int
    project_id: int
    prompt_id: int | None
    title: str
    excerpt: str
    status: ContentStatus
    variables: dict[str, Any]
    word_count: int
    has_pii: bool
    pii_findings: dict[str, int]
    created_by_id: int | None
    decided_by_id: int | None
    decided_at: datetime | None
    rejection_reason: str | None
    approved_version: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, content: Content) -> ContentSummary:
        """The summary of a content row loaded by the ORM (whole body)."""
        return cls(
            id=content.id,
            project_id=content.project_id,
            prompt_id=content.prompt_id,
            title=content.title,
            excerpt=excerpt(content.body),
            status=ContentStatus(content.status),
            variables=content.variables,
            word_count=content.word_count,
            has_pii=content.has_pii,
            pii_findings=content.pii_findings,
            created_by_id=content.created_by_id,
            decided_by_id=content.decided_by_id,
            decided_at=content.decided_at,
            rejection_reason=content.rejection_reason,
            approved_version=content.approved_version,
            created_at=content.created_at,
            updated_at=content.updated_at,
        )


@dataclass(frozen=True)
class ListFilters:
    """The list's filters after the service checked that each names something visible."""

    organization_id: int | None = None
    workspace_id: int | None = None
    project_id: int | None = None
    status: ContentStatus | None = None
    author_id: int | None = None


def served_by_sql(search: str | None) -> bool:
    """Whether the one-query path serves this list (PostgreSQL, no text search)."""
    if search:
        return False
    return raw.postgres() is not None


class _Parameters:
    """``$n`` placeholders in order of use, and their values."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"

    def copy(self) -> _Parameters:
        twin = _Parameters()
        twin.values = list(self.values)
        return twin


def _visibility(roles: Mapping[int, Role], user_id: int, p: _Parameters) -> str | None:
    """The SQL of ``ContentService._visibility_filter``: everything in orgs where the role reads
    any content, own or approved where it creates, approved elsewhere."""
    everything = sorted(org for org, role in roles.items() if may(role, Action.READ_ANY_CONTENT))
    writers = sorted(
        org
        for org, role in roles.items()
        if may(role, Action.CREATE_CONTENT) and not may(role, Action.READ_ANY_CONTENT)
    )
    viewers = sorted(org for org, role in roles.items() if not may(role, Action.CREATE_CONTENT))
    approved = ContentStatus.APPROVED.value
    clauses = []
    if everything:
        clauses.append(f"c.organization_id = ANY({p(everything)}::int[])")
    if writers:
        clauses.append(
            f"(c.organization_id = ANY({p(writers)}::int[])"
            f" AND (c.created_by_id = {p(user_id)} OR c.status = {p(approved)}))"
        )
    if viewers:
        clauses.append(
            f"(c.organization_id = ANY({p(viewers)}::int[]) AND c.status = {p(approved)})"
        )
    return "(" + " OR ".join(clauses) + ")" if clauses else None


def _filters(filters: ListFilters, p: _Parameters) -> str:
    clauses = []
    if filters.organization_id is not None:
        clauses.append(f" AND c.organization_id = {p(filters.organization_id)}")
    if filters.workspace_id is not None:
        clauses.append(f" AND c.workspace_id = {p(filters.workspace_id)}")
    if filters.project_id is not None:
        clauses.append(f" AND c.project_id = {p(filters.project_id)}")
    if filters.status is not None:
        clauses.append(f" AND c.status = {p(filters.status.value)}")
    if filters.author_id is not None:
        clauses.append(f" AND c.created_by_id = {p(filters.author_id)}")
    return "".join(clauses)


async def fetch_summaries(
    *,
    roles: Mapping[int, Role],
    user_id: int,
    filters: ListFilters,
    offset: int,
    limit: int,
    totals: ListTotals | None = None,
) -> tuple[int, list[ContentSummary]] | None:
    """(count, newest-first page); ``None`` when the page is past the end (the window count
    comes with rows only: the caller counts then).

    With a cached total (``core/services/list_totals.py``) only the page is read. A page that
    does not hold the rows that total promises, or a total that says the page is past the end,
    is not believed: the counting query answers and its total replaces the entry.
    """
    p = _Parameters()
    visible = _visibility(roles, user_id, p)
    if visible is None:
        return 0, []
    where = visible + _filters(filters, p)
    cached = None
    if totals is not None:
        orgs = roles if filters.organization_id is None else (filters.organization_id,)
        cached = await totals.lookup(f"{where}\n{p.values!r}", orgs)
    known = None
    if cached is not None and totals is not None:
        known = cached.total if cached.total is not None else await totals.joined(cached)
    # A cached total that puts this page past the end is checked by counting (offset 0 aside:
    # there the empty page itself confirms a total of 0).
    if known is not None and (offset < known or not offset):
        rows = await _page(where, p.copy(), offset=offset, limit=limit, counted=False)
        if len(rows) == min(limit, known - offset):
            return known, [_summary(row) for row in rows]
    if cached is None or totals is None:
        return _counted(await _page(where, p, offset=offset, limit=limit, counted=True), offset)
    future, total = totals.counting(cached), None
    try:
        rows = await _page(where, p, offset=offset, limit=limit, counted=True)
        if rows or offset == 0:
            total = rows[0]["total"] if rows else 0
    finally:
        totals.counted(cached, future, total)
    if total is not None:
        await totals.store(cached, total)
    return _counted(rows, offset)


def _counted(rows: list[dict[str, Any]], offset: int) -> tuple[int, list[ContentSummary]] | None:
    """(total, summaries) of a counted page; ``None`` for an empty page past the end."""
    if not rows and offset > 0:
        return None
    total = rows[0]["total"] if rows else 0
    return total, [_summary(row) for row in rows]


async def _page(
    where: str, p: _Parameters, *, offset: int, limit: int, counted: bool
) -> list[dict[str, Any]]:
    """The page's rows, with ``total`` (``count(*) OVER ()``: a scan of every visible row)
    when ``counted``; without it the id index serves the page and stops after its rows."""
    total = ", count(*) OVER () AS total" if counted else ""
    # Placeholders only; every value is a parameter.
    sql = f"""
        WITH page AS (
            SELECT c.id{total}
            FROM contents c
            JOIN organizations o ON o.id = c.organization_id
            JOIN workspaces w ON w.id = c.workspace_id
            JOIN projects p ON p.id = c.project_id
            WHERE c.deleted_at IS NULL AND o.is_active AND w.is_active AND p.is_active
              AND {where}
            ORDER BY c.id DESC
            LIMIT {p(limit)} OFFSET {p(offset)}
        )
        SELECT {"page.total, " if counted else ""}c.id, c.project_id, c.prompt_id, c.title,
               left(c.body, {p(EXCERPT_FETCH_CHARS)}) AS head, c.status, c.variables,
               c.word_count, c.has_pii, c.pii_findings, c.created_by_id, c.decided_by_id,
               c.decided_at, c.rejection_reason, c.approved_version, c.created_at, c.updated_at
        FROM page JOIN contents c ON c.id = page.id
        ORDER BY c.id DESC
    """  # noqa: S608
    return await connections.get("default").execute_query_dict(sql, p.values)


def _summary(row: dict[str, Any]) -> ContentSummary:
    return ContentSummary(
        id=row["id"],
        project_id=row["project_id"],
        prompt_id=row["prompt_id"],
        title=row["title"],
        excerpt=excerpt(row["head"]),
        status=ContentStatus(row["status"]),
        variables=_json(row["variables"]),
        word_count=row["word_count"],
        has_pii=row["has_pii"],
        pii_findings=_json(row["pii_findings"]),
        created_by_id=row["created_by_id"],
        decided_by_id=row["decided_by_id"],
        decided_at=row["decided_at"],
        rejection_reason=row["rejection_reason"],
        approved_version=row["approved_version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _json(value: Any) -> Any:
    """A JSONB column as asyncpg hands it over (text unless a codec is set)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value
