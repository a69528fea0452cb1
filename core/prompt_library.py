"""The built-in prompt library (``core/prompt_library.json``) and its seeding per organisation.

Every organisation gets its own copy of each built-in prompt, keyed ``<name>.<language>``
(``blog_post.fa``), so its editors may adapt them. Seeding only adds the keys an organisation
lacks: it never overwrites an edited prompt nor revives one an editor retired, which is what
makes ``contexor bootstrap`` safe to run again; ``unique_together(organization, key)`` rejects
a duplicate if two seeders race.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from tortoise.backends.base.client import BaseDBAsyncClient

from core.services.prompts import PromptVariable, check_template, dump_variables, parse_variables
from db.models import GenerationKind, Language, Prompt, PromptCategory

LIBRARY_FILE = Path(__file__).with_name("prompt_library.json")


@dataclass(frozen=True, slots=True)
class BuiltinPrompt:
    key: str
    title: str
    category: PromptCategory
    kind: GenerationKind
    language: Language
    template: str
    variables: tuple[PromptVariable, ...]


class _Entry(BaseModel):
    """One entry of the data file; templates are stored as lists of lines for readable diffs."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=r"^[a-z][a-z_]*\.(fa|en)$", max_length=100)
    title: str = Field(min_length=1, max_length=200)
    category: PromptCategory
    kind: GenerationKind
    language: Language
    template: list[str]
    variables: list[dict]


@cache
def builtin_prompts() -> tuple[BuiltinPrompt, ...]:
    """Every built-in prompt, validated like a prompt an editor saves (a bad entry raises)."""
    raw = json.loads(LIBRARY_FILE.read_text(encoding="utf-8"))
    prompts = []
    for data in raw:
        entry = _Entry.model_validate(data)
        if not entry.key.endswith(f".{entry.language.value}"):
            raise ValueError(f"{entry.key}: the key must end with its language")
        variables = parse_variables(entry.variables)
        template = check_template("\n".join(entry.template), variables)
        prompts.append(
            BuiltinPrompt(
                key=entry.key,
                title=entry.title,
                category=entry.category,
                kind=entry.kind,
                language=entry.language,
                template=template,
                variables=tuple(variables),
            )
        )
    keys = [p.key for p in prompts]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate keys in the prompt library")
    return tuple(prompts)


async def seed_prompt_library(organization_id: int, *, connection: BaseDBAsyncClient) -> int:
    """Add the built-in prompts the organisation lacks (inside the caller's transaction).

    Returns how many were added; existing keys, retired or edited, are left alone.
    """
    library = builtin_prompts()
    existing = set(
        await Prompt.filter(organization_id=organization_id, key__in=[p.key for p in library])
        .using_db(connection)
        .values_list("key", flat=True)
    )
    missing = [
        Prompt(
            organization_id=organization_id,
            key=p.key,
            title=p.title,
            category=p.category,
            kind=p.kind,
            language=p.language,
            template=p.template,
            variables=dump_variables(p.variables),
            is_builtin=True,
        )
        for p in library
        if p.key not in existing
    ]
    if missing:
        await Prompt.bulk_create(missing, using_db=connection)
    return len(missing)
