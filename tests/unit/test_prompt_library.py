"""The built-in prompt library: every entry is a valid prompt in Persian and in English."""

from __future__ import annotations

import re

import pytest

from core.prompt_library import builtin_prompts
from core.services.prompts import VariableType, render_prompt
from core.text.templating import placeholders
from db.models import Language, Prompt

LIBRARY = builtin_prompts()
REQUIRED_NAMES = {
    "blog_post",
    "outline",
    "rewrite",
    "social_caption",
    "product_description",
    "newsletter_email",
}


def as_prompt(entry) -> Prompt:
    return Prompt(
        template=entry.template, variables=[v.model_dump(mode="json") for v in entry.variables]
    )


def test_the_library_covers_every_required_prompt_in_both_languages() -> None:
    keys = {p.key for p in LIBRARY}
    assert keys == {f"{name}.{lang}" for name in REQUIRED_NAMES for lang in ("fa", "en")}


@pytest.mark.parametrize("entry", LIBRARY, ids=lambda p: p.key)
def test_each_template_uses_exactly_its_declared_variables(entry) -> None:
    declared = [v.name for v in entry.variables]
    assert set(placeholders(entry.template)) == set(declared)
    assert entry.key.endswith(f".{entry.language.value}")


@pytest.mark.parametrize("entry", LIBRARY, ids=lambda p: p.key)
def test_each_variable_is_typed_and_labelled_in_both_languages(entry) -> None:
    for variable in entry.variables:
        assert variable.label.fa and variable.label.en, variable.name
        if variable.type is VariableType.CHOICE:
            assert variable.default in variable.choices
        if variable.type in (VariableType.TEXT, VariableType.LONG_TEXT):
            assert variable.max_length is not None
    assert any(v.required for v in entry.variables)


@pytest.mark.parametrize("entry", LIBRARY, ids=lambda p: p.key)
def test_each_prompt_renders_from_its_required_values_alone(entry) -> None:
    values = {v.name: f"<{v.name}>" for v in entry.variables if v.required and v.default is None}
    text = render_prompt(as_prompt(entry), values)
    assert placeholders(text) == []
    for value in values.values():
        assert value in text


@pytest.mark.parametrize("name", sorted(REQUIRED_NAMES))
def test_both_languages_take_the_same_variables(name: str) -> None:
    fa, en = (next(p for p in LIBRARY if p.key == f"{name}.{lang}") for lang in ("fa", "en"))
    assert [(v.name, v.type, v.required) for v in fa.variables] == [
        (v.name, v.type, v.required) for v in en.variables
    ]
    assert (fa.category, fa.kind) == (en.category, en.kind)


PERSIAN = [p for p in LIBRARY if p.language is Language.FA]


@pytest.mark.parametrize("entry", PERSIAN, ids=lambda p: p.key)
def test_persian_prompts_use_persian_letters(entry) -> None:
    text = entry.template + entry.title
    assert not re.search("[يكى]", text), "Arabic yeh or kaf in a Persian prompt"
    assert "\u200c" in entry.template  # the half-space of correct Persian spelling
