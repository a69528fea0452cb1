"""Message catalogs: Persian first and English complete, with the same placeholders."""

from __future__ import annotations

import re

import pytest

from core.errors import DomainError, InvalidInput, RateLimited
from core.i18n import LANGUAGES, catalog, translate

PLACEHOLDER = re.compile(r"\$(\w+)")


def test_both_languages_have_the_same_keys() -> None:
    fa, en = set(catalog("fa")), set(catalog("en"))
    assert sorted(fa - en) == [], "keys missing in English"
    assert sorted(en - fa) == [], "keys missing in Persian"


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_message_is_empty(language: str) -> None:
    empty = [key for key, text in catalog(language).items() if not text.strip()]
    assert empty == []


def test_placeholders_agree_between_languages() -> None:
    fa, en = catalog("fa"), catalog("en")
    differing = [
        key
        for key in fa.keys() & en.keys()
        if set(PLACEHOLDER.findall(fa[key])) != set(PLACEHOLDER.findall(en[key]))
    ]
    assert differing == []


def test_every_error_code_raised_by_the_base_classes_has_text() -> None:
    codes = {cls.code for cls in [DomainError, *_subclasses(DomainError)]}
    missing = [code for code in codes if f"error.{code}" not in catalog("en")]
    assert missing == []


def test_translate_fills_parameters_and_falls_back() -> None:
    assert "7" in RateLimited(retry_after=7).message("fa")
    assert translate("de", "error.not_found") == translate("en", "error.not_found")
    assert translate("fa", "no.such.key") == "no.such.key"
    assert InvalidInput().message("fa") != InvalidInput().message("en")


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


RAISED_CODE = re.compile(
    r"\b(?:InvalidInput|Unauthenticated|PermissionDenied|NotFound|LimitExceeded|Conflict"
    r"|RateLimited|ServiceUnavailable|ConfigurationError)\(\s*\"([a-z_]+)\""
)


def test_every_error_code_in_core_has_text_in_both_languages() -> None:
    from pathlib import Path

    core = Path(__file__).resolve().parents[2] / "core"
    codes = {
        code
        for path in core.rglob("*.py")
        for code in RAISED_CODE.findall(path.read_text(encoding="utf-8"))
    }
    assert codes, "the scan found no error codes: the pattern is broken"
    for language in LANGUAGES:
        missing = sorted(code for code in codes if f"error.{code}" not in catalog(language))
        assert missing == [], f"{language}: {missing}"
