"""List excerpts: folded, cut near a word boundary, the same from a prefix as from the body."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.text.excerpt import ELLIPSIS, EXCERPT_CHARS, EXCERPT_FETCH_CHARS, excerpt


def test_a_short_body_is_its_own_excerpt_with_whitespace_folded() -> None:
    assert excerpt("سلام   دنیا\n\nخط دوم") == "سلام دنیا خط دوم"
    assert excerpt("") == ""


def test_a_long_body_is_cut_at_a_word_boundary_with_an_ellipsis() -> None:
    body = " ".join(["کلمه"] * 200)
    cut = excerpt(body)
    assert cut.endswith(ELLIPSIS) and len(cut) <= EXCERPT_CHARS + 1
    assert cut[:-1].split(" ") == ["کلمه"] * len(cut[:-1].split(" "))


def test_one_endless_word_is_cut_mid_word() -> None:
    assert excerpt("x" * 1000) == "x" * EXCERPT_CHARS + ELLIPSIS


@given(st.text(alphabet=st.sampled_from("ab سلام\n\t\u200c"), max_size=2000))
def test_the_database_prefix_gives_the_same_excerpt_as_the_whole_body(body: str) -> None:
    """The hot list reads only ``left(body, EXCERPT_FETCH_CHARS)``."""
    assert excerpt(body[:EXCERPT_FETCH_CHARS]) == excerpt(body)
