"""What the tenancy services share: paged listings, slug-keyed inserts, names, ``UNSET``."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Final, Generic, Literal, TypeAlias, TypeVar

from tortoise.exceptions import IntegrityError
from tortoise.models import Model
from tortoise.queryset import QuerySet

from core.errors import Conflict, InvalidInput
from core.security.principal import Principal
from core.services.permissions import organization_ids_of
from core.text.slug import slugify, unique_slug

T = TypeVar("T")
M = TypeVar("M", bound=Model)

MAX_LIMIT = 100
NAME_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 2000
SLUG_ATTEMPTS = 5

# C0 control characters other than tab, newline and carriage return, and unpaired UTF-16
# surrogates. PostgreSQL cannot store NUL (nor a lone surrogate, "\ud800" in a JSON body) in text
# or JSONB at all (the insert would fail with a 500), a surrogate cannot even be encoded as UTF-8
# for an answer, and the rest never belong in text a person typed. TEXT_PATTERN says the same to
# pydantic, and so to the OpenAPI document (pydantic refuses surrogates by itself).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
# The same, with at least one character that is not white space: what a field the service
# strips and then requires (a title, a rejection reason) accepts.
NON_BLANK_TEXT_PATTERN = (
    r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*[^\s\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
    r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
)


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
"""Default of an update argument that was not given (``None`` may be a real value)."""
Unset: TypeAlias = Literal[_Unset.UNSET]


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """One page of a list: ``count`` is the total over all pages."""

    count: int
    items: list[T]


async def fetch_listing(
    query: QuerySet[M],
    *,
    offset: int,
    limit: int,
    order_by: Sequence[str] = ("id",),
    related: Sequence[str] = (),
) -> Listing[M]:
    """Count ``query`` and fetch one ordered page of it in two queries, whatever the page size."""
    offset = max(0, offset)
    limit = max(1, min(limit, MAX_LIMIT))
    count = await query.count()
    if count <= offset:
        return Listing(count=count, items=[])
    page = query.order_by(*order_by).offset(offset).limit(limit)
    if related:
        page = page.select_related(*related)
    return Listing(count=count, items=list(await page))


async def create_with_unique_slug(
    name: str,
    *,
    taken: Callable[[str], Awaitable[bool]],
    create: Callable[[str], Awaitable[T]],
) -> T:
    """Run ``create(slug)`` with a free slug derived from ``name``, retrying on a collision.

    ``create`` must run in its own transaction (or savepoint): two callers may pick the same
    slug at once, and the loser's ``IntegrityError`` rolls its insert back before the retry.
    """
    for _ in range(SLUG_ATTEMPTS):
        slug = await unique_slug(name, taken)
        try:
            return await create(slug)
        except IntegrityError:
            continue
    raise Conflict("slug_unavailable", slug=slugify(name))


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a control character other than tab, newline and carriage return."""
    return _CONTROL.search(text) is not None


def strip_control_characters(text: str) -> str:
    """``text`` without the characters :func:`has_control_characters` looks for."""
    return _CONTROL.sub("", text)


def is_invisible(text: str) -> bool:
    """Whether ``text`` shows nothing: only white space and format characters (ZWSP, BOM, ZWNJ…)."""
    return all(char.isspace() or unicodedata.category(char) == "Cf" for char in text)


def check_characters(text: str, *, field: str) -> str:
    """``text`` itself, or ``InvalidInput("invalid_characters")`` naming ``field``."""
    if has_control_characters(text):
        raise InvalidInput("invalid_characters", field=field)
    return text


def clean_name(value: object, *, field: str = "name") -> str:
    """A display name stripped of surrounding space; ``InvalidInput`` when empty or too long."""
    if not isinstance(value, str):
        raise InvalidInput("name_required", field=field)
    name = check_characters(value.strip(), field=field)
    if is_invisible(name):  # "\u200b" or "\ufeff" alone would be a name nobody can see
        raise InvalidInput("name_required", field=field)
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidInput("too_long", field=field, max_length=NAME_MAX_LENGTH)
    return name


def clean_description(value: object) -> str:
    """A free-text description (may be empty); ``InvalidInput`` when too long."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput("invalid_input", field="description")
    text = check_characters(value.strip(), field="description")
    if len(text) > DESCRIPTION_MAX_LENGTH:
        raise InvalidInput("too_long", field="description", max_length=DESCRIPTION_MAX_LENGTH)
    return text


def readable_organization_ids(actor: Principal) -> list[int]:
    """The organisations whose lists the actor sees: the active ones they belong to."""
    return organization_ids_of(actor)
