"""Slugs for organisations, workspaces and projects, from English or Persian names.

English and other Latin names fold to lower-case ASCII (``Café Menu`` -> ``cafe-menu``); Persian
letters are kept after normalisation (``گزارش ماهانه`` -> ``گزارش-ماهانه``) because transliterating
Persian is lossy and teams recognise their own script. Digits become ASCII.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable

from core.errors import Conflict
from core.text.normalize import normalize_text

MAX_LENGTH = 100
FALLBACK = "item"


def slugify(name: str) -> str:
    """Return a non-empty slug of at most ``MAX_LENGTH`` characters, words joined by "-"."""
    # NFKC first: presentation forms (ﻯ, ﻼ) become base letters that normalize_text then maps
    # (ى -> ی), so a slug of a slug is the same slug.
    folded = "".join(map(_fold, normalize_text(unicodedata.normalize("NFKC", name))))
    words = [word for word in folded.split("-") if word]
    return _join_within_limit(words) or FALLBACK


async def unique_slug(
    base: str, taken: Callable[[str], Awaitable[bool]], *, attempts: int = 100
) -> str:
    """Return the first of ``base``, ``base-2``, ``base-3``… that ``taken`` reports as free.

    This only picks a likely-free slug: two callers can pick the same one at once, so the
    database's unique constraint is what finally enforces uniqueness, and callers retry (or
    answer ``Conflict``) on ``IntegrityError``.
    """
    root = slugify(base)
    for n in range(1, attempts + 1):
        candidate = root if n == 1 else _with_suffix(root, n)
        if not await taken(candidate):
            return candidate
    raise Conflict("slug_unavailable", slug=root)


def _fold(ch: str) -> str:
    """Return one character's slug form: a word character, its ASCII folding, "" or "-"."""
    if _is_word_char(ch):
        return ch.lower()
    if unicodedata.category(ch)[0] in "LMN":
        # A letter, mark or digit of another kind: é -> e, ﻻ -> لا; harakat and tatweel vanish.
        decomposed = unicodedata.normalize("NFKD", ch)
        return "".join(c.lower() for c in decomposed if _is_word_char(c))
    return "-"  # spaces, punctuation, ZWNJ and symbols separate words


def _is_word_char(ch: str) -> bool:
    """Whether ``ch`` may appear in a slug as is: ASCII letter or digit, or Arabic-script letter."""
    if ch.isascii():
        return ch.isalnum()
    return "\u0600" <= ch <= "\u06ff" and unicodedata.category(ch) == "Lo"


def _join_within_limit(words: list[str]) -> str:
    """Join whole words with "-" up to ``MAX_LENGTH``; cut a single over-long first word."""
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > MAX_LENGTH:
            return slug or word[:MAX_LENGTH]
        slug = candidate
    return slug


def _with_suffix(root: str, n: int) -> str:
    """Return ``root-n``, shortening ``root`` so the result stays within ``MAX_LENGTH``."""
    suffix = f"-{n}"
    return root[: MAX_LENGTH - len(suffix)].rstrip("-") + suffix
