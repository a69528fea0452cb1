"""Safe ``{name}`` prompt templates: one pass, declared names only, values verbatim.

The system this replaces called ``str.format`` on templates with free braces and crashed on every
draft, and ``str.format`` on a user's template would also allow
``{x.__class__.__init__.__globals__[...]}``. Here a placeholder is exactly ``{name}``: a name is
letters (Persian included), digits and underscores, not starting with a digit, and may hold a
ZWNJ between letters (نام‌خانوادگی). Everything else stays literal text, namely ``{0}``,
``{x.attr}``, ``{x[0]}``, ``{ x }``, unbalanced braces, and any placeholder touching another brace
(``{{x}}``, ``{{x}``, ``{x}}``): doubled braces are not an escape here, they are just text.

Contract for callers: validate first that every *required* variable has a value and fill optional
ones (with their default or ``""``) yourself; ``render`` does not invent values. A declared
name that is referenced but missing from ``values`` is a caller bug and raises
``InvalidInput("missing_variable")`` rather than sending a half-rendered prompt to the model.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Mapping

from core.errors import InvalidInput

# `[^\W\d]` is a Unicode letter or underscore; `\w` is Unicode-aware (Persian letters and digits).
_NAME = r"[^\W\d](?:\w|\u200c(?=\w))*"
_PLACEHOLDER = re.compile(r"(?<!\{)\{(" + _NAME + r")\}(?!\})")


def placeholders(template: str) -> list[str]:
    """Return the names ``template`` references, in order of first use, without repeats."""
    return list(dict.fromkeys(m[1] for m in _PLACEHOLDER.finditer(template)))


def undeclared_references(template: str, declared: Collection[str]) -> list[str]:
    """Return the referenced names that are not declared, for validation when a prompt is saved."""
    known = frozenset(declared)
    return [name for name in placeholders(template) if name not in known]


def rendered_size(
    template: str,
    declared: Collection[str],
    *,
    literal: Callable[[str], int],
    value: Mapping[str, int],
) -> int:
    """The size ``render`` would produce, without building it (a bound checked before work).

    Each literal piece of ``template`` counts ``literal(piece)``; each occurrence of a declared
    placeholder counts ``value[name]`` (so a placeholder repeated 2,000 times counts 2,000 times).
    Undeclared placeholders stay literal text, as in :func:`render`.
    """
    known = frozenset(declared)
    total, uses, start = 0, Counter[str](), 0
    for match in _PLACEHOLDER.finditer(template):
        if match[1] not in known:
            continue
        total += literal(template[start : match.start()])
        uses[match[1]] += 1
        start = match.end()
    total += literal(template[start:])
    return total + sum(value[name] * count for name, count in uses.items())


def render(template: str, values: Mapping[str, str], declared: Collection[str]) -> str:
    """Return ``template`` with each declared ``{name}`` replaced by ``values[name]`` verbatim."""
    known = frozenset(declared)
    missing = [n for n in placeholders(template) if n in known and n not in values]
    if missing:
        raise InvalidInput("missing_variable", name=", ".join(missing))

    def substitute(match: re.Match[str]) -> str:
        name = match[1]
        if name not in known:
            return match[0]
        value = values[name]
        if not isinstance(value, str):
            raise TypeError(f"template value for {name!r} must be str, not {type(value).__name__}")
        # What a callback returns is inserted as is: no backslash processing, no second pass.
        return value

    return _PLACEHOLDER.sub(substitute, template)
