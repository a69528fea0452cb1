"""Slugs from English and Persian names, and the uniqueness helper."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import Conflict
from core.text.slug import FALLBACK, MAX_LENGTH, slugify, unique_slug

SLUG = re.compile(r"[a-z0-9\u0600-\u06ff]+(?:-[a-z0-9\u0600-\u06ff]+)*")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Marketing Team", "marketing-team"),
        ("  Q3 -- Launch!!  ", "q3-launch"),
        ("Café Menu", "cafe-menu"),
        ("گزارش ماهانه", "گزارش-ماهانه"),
        ("كتاب علي", "کتاب-علی"),  # Arabic kaf and yeh become Persian
        ("پروژه ۱۴۰۳", "پروژه-1403"),
        ("کتاب\u200cها", "کتاب-ها"),  # ZWNJ separates words in a slug
        ("مُحَمَّد", "محمد"),  # harakat are dropped, not word breaks
        ("Contexor: تیم محتوا", "contexor-تیم-محتوا"),
        ("\u200fسلام\u200e", "سلام"),
        ("", FALLBACK),
        ("!!! ---", FALLBACK),
        ("中文", FALLBACK),
    ],
)
def test_slugify(name: str, expected: str) -> None:
    assert slugify(name) == expected


def test_long_names_are_cut_at_a_word_boundary() -> None:
    slug = slugify("word " * 40)
    assert len(slug) <= MAX_LENGTH
    assert slug.endswith("word")
    assert set(slug.split("-")) == {"word"}


def test_a_single_over_long_word_is_cut() -> None:
    assert slugify("a" * 150) == "a" * MAX_LENGTH


@given(st.text(max_size=250))
def test_slug_is_short_non_empty_well_formed_and_stable(name: str) -> None:
    slug = slugify(name)
    assert 0 < len(slug) <= MAX_LENGTH
    assert SLUG.fullmatch(slug), slug
    assert slugify(slug) == slug


async def test_unique_slug_returns_the_base_when_free() -> None:
    async def taken(_: str) -> bool:
        return False

    assert await unique_slug("Marketing Team", taken) == "marketing-team"


async def test_unique_slug_appends_the_first_free_number() -> None:
    existing = {"marketing-team", "marketing-team-2"}
    asked: list[str] = []

    async def taken(slug: str) -> bool:
        asked.append(slug)
        return slug in existing

    assert await unique_slug("Marketing Team", taken) == "marketing-team-3"
    assert asked == ["marketing-team", "marketing-team-2", "marketing-team-3"]


async def test_unique_slug_stays_within_the_length_limit() -> None:
    base = "a" * MAX_LENGTH

    async def taken(slug: str) -> bool:
        return slug == base

    slug = await unique_slug(base, taken)
    assert slug == "a" * (MAX_LENGTH - 2) + "-2"


async def test_unique_slug_gives_up_with_a_conflict() -> None:
    async def taken(_: str) -> bool:
        return True

    with pytest.raises(Conflict) as caught:
        await unique_slug("x", taken, attempts=3)
    assert caught.value.code == "slug_unavailable"
