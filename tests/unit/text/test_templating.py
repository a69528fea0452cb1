"""Safe ``{name}`` templates: declared names only, one pass, values verbatim."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.text.templating import placeholders, render, undeclared_references

DECLARED = ("topic", "tone", "عنوان", "نام\u200cخانوادگی", "x")
VALUES = {
    "topic": "AI",
    "tone": "friendly",
    "عنوان": "سلام",
    "نام\u200cخانوادگی": "رضایی",
    "x": "X",
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Write about {topic} in a {tone} tone.", "Write about AI in a friendly tone."),
        ("مقاله‌ای با عنوان {عنوان}", "مقاله‌ای با عنوان سلام"),
        ("آقای {نام\u200cخانوادگی}", "آقای رضایی"),
        ("{topic}{topic}", "AIAI"),
        ("{x.__class__}", "{x.__class__}"),
        ("{x.__class__.__init__.__globals__[os]}", "{x.__class__.__init__.__globals__[os]}"),
        ("{x[0]}", "{x[0]}"),
        ("{0} and {1}", "{0} and {1}"),
        ("{} {!r} {x!r} {x:>10}", "{} {!r} {x!r} {x:>10}"),
        ("{{x}}", "{{x}}"),
        ("{{x}", "{{x}"),
        ("{x}}", "{x}}"),
        ("{{ and }} stay", "{{ and }} stay"),
        ("{x", "{x"),
        ("x}", "x}"),
        ("}{x}{", "}X{"),
        ("{ x }", "{ x }"),
        ("{unknown} {topic}", "{unknown} AI"),
        ("{عنوان اصلی}", "{عنوان اصلی}"),  # the template that crashed the old system
        ("{۱x}", "{۱x}"),  # a name cannot start with a (Persian) digit
        ("{_private}", "{_private}"),  # valid name, not declared
    ],
)
def test_render(template: str, expected: str) -> None:
    assert render(template, VALUES, DECLARED) == expected


@pytest.mark.parametrize(
    "value", ["{topic}", "{x.__class__}", r"\1 \g<0>", "$topic ${tone}", "{{", "}", "%s %(x)s"]
)
def test_values_are_inserted_verbatim_and_never_reparsed(value: str) -> None:
    values = {**VALUES, "x": value}
    assert render("<{x}> {topic}", values, DECLARED) == f"<{value}> AI"


def test_undeclared_name_stays_even_when_a_value_is_given() -> None:
    assert render("{secret}", {"secret": "leak"}, declared=["topic"]) == "{secret}"


def test_missing_declared_value_raises_instead_of_inventing_one() -> None:
    with pytest.raises(InvalidInput) as caught:
        render("{topic} {tone}", {"topic": "AI"}, DECLARED)
    assert caught.value.code == "missing_variable"
    assert caught.value.params == {"name": "tone"}
    assert "tone" in caught.value.message("fa")


def test_missing_value_of_an_unreferenced_variable_is_fine() -> None:
    assert render("{topic}", {"topic": "AI"}, DECLARED) == "AI"


def test_empty_string_is_a_value_the_caller_chose() -> None:
    assert render("[{tone}]", {"tone": ""}, ["tone"]) == "[]"


def test_non_string_value_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        render("{n}", {"n": 3}, ["n"])  # type: ignore[dict-item]


def test_placeholders_in_order_without_repeats() -> None:
    template = "{b} {a} {b} {x.y} {0} {{c}} {عنوان} {a}"
    assert placeholders(template) == ["b", "a", "عنوان"]


def test_undeclared_references_for_save_time_validation() -> None:
    template = "{topic} {ton} {عنوان} {عنوان_اصلی} {{ignored}} {0}"
    assert undeclared_references(template, DECLARED) == ["ton", "عنوان_اصلی"]
    assert undeclared_references("{topic}", DECLARED) == []


# --- properties -----------------------------------------------------------------------------

names = st.sampled_from(DECLARED)
brace_free = st.text(max_size=15).map(lambda s: s.replace("{", "").replace("}", ""))


@settings(max_examples=150)
@given(
    st.lists(st.one_of(brace_free, names.map(lambda n: ("ref", n))), max_size=8),
    st.fixed_dictionaries({n: st.text(max_size=12) for n in DECLARED}),
)
def test_template_built_from_parts_renders_to_parts(
    parts: list[str | tuple[str, str]], values: dict[str, str]
) -> None:
    template = "".join(p if isinstance(p, str) else "{" + p[1] + "}" for p in parts)
    expected = "".join(p if isinstance(p, str) else values[p[1]] for p in parts)
    # A literal part may end in a letter and the next one start with one: still one placeholder.
    assert render(template, values, DECLARED) == expected


# Templates assembled from braces, declared names and anything else.
hostile = st.lists(
    st.sampled_from(["{", "}", "{{", "}}", ".", "[", "]", "0", "_", " ", "a", *DECLARED])
    | st.characters(),
    max_size=25,
).map("".join)


@settings(max_examples=200)
@given(hostile)
def test_rendering_never_leaves_a_declared_placeholder(template: str) -> None:
    # A sentinel value that is neither a brace nor a name character cannot form a placeholder
    # with its neighbours, so any declared placeholder left over would be a missed substitution.
    sentinel = "\x01"
    out = render(template, dict.fromkeys(DECLARED, sentinel), DECLARED)
    assert not set(placeholders(out)) & set(DECLARED)
    assert out.count(sentinel) - template.count(sentinel) == _declared_occurrences(template)


@settings(max_examples=200)
@given(hostile, st.dictionaries(names, st.text(max_size=10)))
def test_rendering_arbitrary_templates_never_raises(
    template: str, given_values: dict[str, str]
) -> None:
    values = {n: given_values.get(n, "{" + n + "}") for n in DECLARED}
    out = render(template, values, DECLARED)
    if not set(placeholders(template)) & set(DECLARED):
        assert out == template


def _declared_occurrences(template: str) -> int:
    """Count ``{name}`` of declared names not touching another brace (an independent oracle)."""
    return sum(
        len(re.findall(r"(?<!\{)\{" + re.escape(name) + r"\}(?!\})", template)) for name in DECLARED
    )
