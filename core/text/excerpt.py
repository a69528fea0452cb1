"""The short opening of a body that lists show instead of the body itself.

A list page of 20 full bodies of ~320 Persian words is about 70 KB; lists show the first
``EXCERPT_CHARS`` characters (whitespace runs folded to one space, cut at a word boundary when
one is near, then "…"), and the detail keeps the whole body. Reads that fetch only
``left(body, EXCERPT_FETCH_CHARS)`` from the database get the same excerpt as the whole body.
"""

from __future__ import annotations

EXCERPT_CHARS = 200
# Enough of the body to tell whether it is longer than the excerpt after folding whitespace.
EXCERPT_SOURCE_CHARS = EXCERPT_CHARS * 2
EXCERPT_FETCH_CHARS = EXCERPT_SOURCE_CHARS + 1  # one more: whether the body goes on
_WORD_BOUNDARY_WINDOW = 40  # cut at a space this close to the limit; else mid-word
ELLIPSIS = "…"


def excerpt(body: str) -> str:
    """The first ``EXCERPT_CHARS`` characters of ``body``, folded, with "…" when cut."""
    folded = " ".join(body[:EXCERPT_SOURCE_CHARS].split())
    if len(folded) <= EXCERPT_CHARS:
        # A body longer than the source window folds to more than EXCERPT_CHARS anyway
        # unless it is mostly whitespace; mark it cut then too.
        return folded if len(body) <= EXCERPT_SOURCE_CHARS else folded + ELLIPSIS
    cut = folded[:EXCERPT_CHARS]
    space = cut.rfind(" ")
    if space >= EXCERPT_CHARS - _WORD_BOUNDARY_WINDOW:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS
