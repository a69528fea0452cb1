"""Message catalogs shared by every adapter: ``core/locales/<lang>/*.json``.

Persian is the first language; English must be complete. A missing key falls back to English
and then to the key itself, so a gap shows up as a visible key rather than a crash.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

LANGUAGES = ("fa", "en")
_LOCALE_DIR = Path(__file__).parent / "locales"


@cache
def catalog(language: str) -> dict[str, str]:
    """The flat key -> text mapping of one language: every file of its folder, merged."""
    merged: dict[str, str] = {}
    for path in sorted((_LOCALE_DIR / language).glob("*.json")):
        merged.update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def translate(language: str, key: str, /, **params: Any) -> str:
    """Text for ``key`` in ``language`` with ``$name`` placeholders filled from ``params``."""
    lang = language if language in LANGUAGES else "en"
    text = catalog(lang).get(key) or catalog("en").get(key) or key
    # safe_substitute: a missing parameter leaves "$name" visible instead of raising.
    return Template(text).safe_substitute({k: _render(v) for k, v in params.items()})


def _render(value: Any) -> str:
    return str(value)
