"""``?page=&page_size=`` pagination with the ``{count, next, previous, results}`` envelope."""

from __future__ import annotations

from typing import Generic, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field

ItemT = TypeVar("ItemT")
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class PageQuery(BaseModel):
    """Base of every list query model: routes subclass it to add their filters."""

    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


class Page(BaseModel, Generic[ItemT]):
    count: int
    next: str | None
    previous: str | None
    results: list[ItemT]


def page_of(
    request: web.Request, query: PageQuery, count: int, results: list[ItemT]
) -> Page[ItemT]:
    """The envelope, with ``next``/``previous`` links that keep the request's other filters."""
    last_page = max(1, -(-count // query.page_size))

    def link(page: int) -> str:
        return str(request.rel_url.update_query(page=page, page_size=query.page_size))

    return Page[ItemT](
        count=count,
        next=link(query.page + 1) if query.page < last_page else None,
        previous=link(query.page - 1) if query.page > 1 else None,
        results=results,
    )
