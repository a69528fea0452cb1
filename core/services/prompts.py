"""Prompt templates with typed variables: validated on save, values checked before rendering.

A prompt belongs to an organisation and optionally to one of its workspaces (``workspace`` null
means usable everywhere in the organisation). Its ``variables`` are stored as JSON in the shape
of the REST contract (``{name, label, type, required, default, choices, max_length, min_value,
max_value, help}``) after :class:`PromptVariable` accepted them, and its template may reference
only declared names, so a saved prompt always renders. Editors and admins write prompts; every
member reads them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core.errors import InvalidInput, NotFound, field_problems
from core.llm.pricing import estimate_tokens
from core.security.principal import Principal
from core.services.common import (
    TEXT_PATTERN,
    UNSET,
    Listing,
    Unset,
    check_characters,
    clean_name,
    fetch_listing,
    has_control_characters,
    readable_organization_ids,
)
from core.services.permissions import Action, authorize
from core.text.normalize import normalize_digits, normalize_text
from core.text.templating import placeholders, render, rendered_size, undeclared_references
from db.models import GenerationKind, Language, Prompt, PromptCategory, Workspace

MAX_VARIABLES = 30
MAX_NAME_LENGTH = 64
MAX_TEMPLATE_LENGTH = 20_000
MAX_CHOICES = 50
MAX_CHOICE_LENGTH = 200
MAX_NUMBER_LENGTH = 30
# What a prompt produces when its creator does not say (the REST schema and the bot's Skip).
DEFAULT_KIND = GenerationKind.DRAFT
# Defaults of MAX_RENDERED_CHARS and MAX_RENDERED_TOKENS (core/settings.py): the most a rendered
# prompt may hold. A prompt repeating one placeholder thousands of times would otherwise render
# tens of megabytes from values that are each within their own limit.
MAX_RENDERED_CHARS = 100_000
MAX_RENDERED_TOKENS = 100_000


class VariableType(StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    NUMBER = "number"
    CHOICE = "choice"


# The longest value each text type accepts; ``max_length`` may only lower it.
TEXT_LIMITS = {VariableType.TEXT: 1_000, VariableType.LONG_TEXT: 20_000}

ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=TEXT_PATTERN),
]
HelpText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=TEXT_PATTERN),
]


class LocalizedText(BaseModel):
    """A text in Persian and/or English; at least one of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fa: ShortText | None = None
    en: ShortText | None = None

    @model_validator(mode="after")
    def _one_language_at_least(self) -> LocalizedText:
        if self.fa is None and self.en is None:
            raise ValueError("give the text in fa, en or both")
        return self


class LocalizedHelp(LocalizedText):
    fa: HelpText | None = None
    en: HelpText | None = None


class PromptVariable(BaseModel):
    """One declared variable of a prompt (docs/architecture.md §3), checked as a whole."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        min_length=1,
        max_length=MAX_NAME_LENGTH,
        description="Letters (Persian included), digits and underscores, not starting with a digit",
        # What _name_is_a_placeholder_name enforces, for the OpenAPI document (no lookahead:
        # a zero-width non-joiner must be followed by a word character).
        json_schema_extra={"pattern": r"^[^\W\d](?:\w|\u200c\w)*$"},
    )
    label: ShortText | LocalizedText
    type: VariableType = VariableType.TEXT
    required: bool = False
    # A number is accepted and kept as text (``_numbers_as_text``); the document says so.
    default: Annotated[
        str | None,
        WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]}),
    ] = None
    choices: list[str] | None = Field(default=None, max_length=MAX_CHOICES)
    max_length: int | None = Field(default=None, ge=1, le=TEXT_LIMITS[VariableType.LONG_TEXT])
    min_value: float | None = None
    max_value: float | None = None
    help: HelpText | LocalizedHelp | None = None

    @field_validator("min_value", "max_value")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("a bound is a finite number")
        return value

    @field_validator("name")
    @classmethod
    def _name_is_a_placeholder_name(cls, name: str) -> str:
        # The templating module decides what a placeholder is; a name it cannot find would
        # be declared but never substituted.
        if placeholders("{" + name + "}") != [name]:
            raise ValueError(
                "a name is letters (Persian included), digits and underscores, "
                "not starting with a digit"
            )
        return name

    @field_validator("default", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: object) -> object:
        # A number default may come as a JSON number; values are rendered as text anyway.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("choices")
    @classmethod
    def _clean_choices(cls, choices: list[str] | None) -> list[str] | None:
        if choices is None:
            return None
        cleaned = [choice.strip() for choice in choices]
        if any(not c or len(c) > MAX_CHOICE_LENGTH or has_control_characters(c) for c in cleaned):
            raise ValueError(f"each choice is 1 to {MAX_CHOICE_LENGTH} characters")
        if len({normalize_text(c) for c in cleaned}) != len(cleaned):
            raise ValueError("choices must differ from each other")
        return cleaned

    @model_validator(mode="after")
    def _consistent(self) -> PromptVariable:
        if self.type is VariableType.CHOICE and not self.choices:
            raise ValueError("a choice variable needs choices")
        if self.type is not VariableType.CHOICE and self.choices is not None:
            raise ValueError("only a choice variable has choices")
        if self.max_length is not None:
            if self.type not in TEXT_LIMITS:
                raise ValueError("only text and long_text variables have a max_length")
            if self.max_length > TEXT_LIMITS[self.type]:
                raise ValueError(f"max_length of {self.type} is at most {TEXT_LIMITS[self.type]}")
        bounds = (self.min_value, self.max_value)
        if bounds != (None, None) and self.type is not VariableType.NUMBER:
            raise ValueError("only a number variable has min_value and max_value")
        if None not in bounds and self.min_value > self.max_value:  # type: ignore[operator]
            raise ValueError("min_value is at most max_value")
        if self.default is not None:
            try:
                _checked_value(self, self.default)
            except _BadValue as problem:
                raise ValueError(f"default: {problem.code}") from None
        return self

    @property
    def limit(self) -> int | None:
        """The longest text value accepted, or ``None`` for numbers and choices."""
        if self.type not in TEXT_LIMITS:
            return None
        return self.max_length or TEXT_LIMITS[self.type]


_VARIABLES = TypeAdapter(list[PromptVariable])
_NOT_A_LIST = {"field": "variables", "problem": "must be a list of objects"}


def parse_variables(raw: object) -> list[PromptVariable]:
    """Declared variables from JSON-like data or models; ``InvalidInput`` naming each problem."""
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        raise InvalidInput("invalid_variables", fields=[_NOT_A_LIST])
    data = [v.model_dump() if isinstance(v, PromptVariable) else v for v in raw]
    try:
        variables = _VARIABLES.validate_python(data)
    except ValidationError as exc:
        raise InvalidInput("invalid_variables", fields=field_problems(exc, "variables")) from exc
    if len(variables) > MAX_VARIABLES:
        raise InvalidInput("too_many_variables", max_count=MAX_VARIABLES)
    seen: set[str] = set()
    for variable in variables:
        if variable.name in seen:
            raise InvalidInput("duplicate_variable", name=variable.name)
        seen.add(variable.name)
    return variables


def check_template(
    template: object,
    variables: Iterable[PromptVariable],
    *,
    max_rendered_chars: int = MAX_RENDERED_CHARS,
) -> str:
    """The template, if it is non-empty text that references only declared variables.

    Also the rendered size: with every variable at its declared maximum length, counted once
    per use of its placeholder, the text may not exceed ``max_rendered_chars``
    (``template_too_large``), so no prompt saved can render more, whatever its values.
    """
    variables = list(variables)
    if not isinstance(template, str) or not template.strip():
        raise InvalidInput("template_required")
    if len(template) > MAX_TEMPLATE_LENGTH:
        raise InvalidInput("too_long", field="template", max_length=MAX_TEMPLATE_LENGTH)
    check_characters(template, field="template")
    undeclared = undeclared_references(template, [v.name for v in variables])
    if undeclared:
        raise InvalidInput(
            "undeclared_variables", names=", ".join(undeclared), variables=undeclared
        )
    longest = {v.name: _longest_value(v) for v in variables}
    bound = rendered_size(template, longest.keys(), literal=len, value=longest)
    if bound > max_rendered_chars:
        raise InvalidInput(
            "template_too_large", field="template", max_chars=max_rendered_chars, chars=bound
        )
    return template


def template_variables(template: object) -> list[str]:
    """The names ``template`` references (in order of first use), once it passes the checks
    that need no declarations: non-empty text, not too long, no control characters, at most
    ``MAX_VARIABLES`` names. For a guided editor that declares the variables it finds; the
    whole prompt is still checked by :meth:`PromptService.check_prompt` before it is saved.
    """
    if not isinstance(template, str) or not template.strip():
        raise InvalidInput("template_required")
    if len(template) > MAX_TEMPLATE_LENGTH:
        raise InvalidInput("too_long", field="template", max_length=MAX_TEMPLATE_LENGTH)
    check_characters(template, field="template")
    names = placeholders(template)
    if len(names) > MAX_VARIABLES:
        raise InvalidInput("too_many_variables", max_count=MAX_VARIABLES)
    return names


def _longest_value(variable: PromptVariable) -> int:
    """The longest text a value of ``variable`` renders to."""
    if variable.type is VariableType.NUMBER:
        return MAX_NUMBER_LENGTH
    if variable.type is VariableType.CHOICE:
        return max(map(len, variable.choices or [""]))
    return variable.limit or 0


def validate_values(prompt: Prompt, values: Mapping[str, object] | None) -> dict[str, str]:
    """Check ``values`` against the prompt's variables; return a text value for every variable.

    Missing or blank values take the variable's default, or ``""`` when it is optional;
    a required one without a value, an unknown name, a value of the wrong type, a choice not
    offered and a text over its length raise ``InvalidInput`` naming the variable. Numbers
    may be written with Persian digits and separators and come back in ASCII. Running the
    result through this function again returns it unchanged.
    """
    variables = parse_variables(prompt.variables)
    values = values or {}
    declared = {v.name for v in variables}
    for name in values:
        if name not in declared:
            raise InvalidInput("unknown_variable", name=str(name)[:MAX_NAME_LENGTH])
    return {v.name: check_answer(v, values.get(v.name)) for v in variables}


def check_answer(variable: PromptVariable, raw: object) -> str:
    """The text to render for one answer to ``variable``, or ``InvalidInput`` naming it.

    ``None`` or blank means skipped: the default, else ``""`` when optional; a required
    variable without a default refuses it (``variable_required``). Numbers are checked
    against ``min_value``/``max_value``, texts against their length, choices against the list.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if variable.default is not None:
            raw = variable.default
        elif variable.required:
            raise InvalidInput("variable_required", name=variable.name)
        else:
            return ""
    try:
        return _checked_value(variable, raw)
    except _BadValue as problem:
        raise InvalidInput(problem.code, name=variable.name, **problem.params) from None


def localized(text: str | LocalizedText | None, language: str) -> str:
    """A label or help text in ``language``, falling back to the other one (``""`` if none)."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    first, second = (text.en, text.fa) if language == "en" else (text.fa, text.en)
    return first or second or ""


def render_prompt(
    prompt: Prompt,
    values: Mapping[str, object] | None,
    *,
    max_chars: int = MAX_RENDERED_CHARS,
    max_tokens: int = MAX_RENDERED_TOKENS,
) -> str:
    """The prompt's template with ``values`` checked by :func:`validate_values` substituted.

    The size of the result (characters, and estimated tokens) is computed from the pieces
    before anything is rendered: over ``max_chars`` or ``max_tokens`` is ``prompt_too_large``
    (a prompt saved before the bound of :func:`check_template` existed may still be that big).
    CPU-bound for large values: callers on the event loop run it in a thread.
    """
    checked = validate_values(prompt, values)
    chars = rendered_size(
        prompt.template, checked.keys(), literal=len, value={k: len(v) for k, v in checked.items()}
    )
    if chars > max_chars:
        raise InvalidInput("prompt_too_large", max_chars=max_chars, max_tokens=max_tokens)
    tokens = rendered_size(
        prompt.template,
        checked.keys(),
        literal=estimate_tokens,
        value={k: estimate_tokens(v) for k, v in checked.items()},
    )
    if tokens > max_tokens:
        raise InvalidInput("prompt_too_large", max_chars=max_chars, max_tokens=max_tokens)
    return render(prompt.template, checked, checked.keys())


class _BadValue(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)", re.ASCII)
# Persian decimal separator, then thousands separators (Persian, Arabic comma, ASCII comma).
_NUMBER_MARKS = str.maketrans({"\u066b": ".", "\u066c": None, "\u060c": None, ",": None})


def _checked_value(variable: PromptVariable, raw: object) -> str:
    """The text to render for one non-blank value of ``variable``, or ``_BadValue``."""
    if variable.type is VariableType.NUMBER:
        return _checked_range(variable, _checked_number(raw))
    if not isinstance(raw, str):
        raise _BadValue("variable_not_text")
    if has_control_characters(raw):
        raise _BadValue("variable_invalid_characters")
    value = raw.strip()
    if variable.type is VariableType.CHOICE:
        return _checked_choice(value, variable.choices or [])
    limit = variable.limit
    if limit is not None and len(value) > limit:
        raise _BadValue("variable_too_long", max_length=limit)
    return value


def _checked_number(raw: object) -> str:
    if isinstance(raw, bool):
        raise _BadValue("variable_not_a_number")
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise _BadValue("variable_not_a_number")
        return repr(raw)
    if not isinstance(raw, str):
        raise _BadValue("variable_not_a_number")
    text = normalize_digits(raw).strip().translate(_NUMBER_MARKS)
    if len(text) > MAX_NUMBER_LENGTH or not _NUMBER.fullmatch(text):
        raise _BadValue("variable_not_a_number")
    return text


def _checked_range(variable: PromptVariable, number: str) -> str:
    value = float(number)
    low, high = variable.min_value, variable.max_value
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            raise _BadValue("variable_out_of_range", min=_shown(low), max=_shown(high))
        if low is not None:
            raise _BadValue("variable_too_small", min=_shown(low))
        raise _BadValue("variable_too_large", max=_shown(high))
    return number


def _shown(bound: float | None) -> str:
    """A bound as written: ``5`` rather than ``5.0``."""
    assert bound is not None
    return str(int(bound)) if bound.is_integer() else repr(bound)


def _checked_choice(value: str, choices: list[str]) -> str:
    # Compare normalised forms so "علي" typed on an Arabic keyboard still picks "علی".
    wanted = normalize_text(value)
    for choice in choices:
        if normalize_text(choice) == wanted:
            return choice
    raise _BadValue("variable_not_a_choice", choices=", ".join(choices))


def dump_variables(variables: Iterable[PromptVariable]) -> list[dict[str, Any]]:
    """The JSON stored in ``Prompt.variables``: every key of the DESIGN shape, always."""
    return [v.model_dump(mode="json") for v in variables]


@dataclass(frozen=True, slots=True)
class PromptFilters:
    """What a prompt list may be narrowed to (``None`` means any)."""

    organization_id: int | None = None
    workspace_id: int | None = None
    category: PromptCategory | None = None
    kind: GenerationKind | None = None
    language: Language | None = None


@dataclass(frozen=True, slots=True)
class CheckedPrompt:
    """A prompt's title, template and variables as they would be saved."""

    title: str
    template: str
    variables: list[PromptVariable]


def visible_prompts() -> QuerySet[Prompt]:
    """Active prompts whose workspace, if any, is active too."""
    return Prompt.filter(is_active=True).filter(
        Q(workspace_id__isnull=True) | Q(workspace__is_active=True)
    )


class PromptService:
    """Prompt library of each organisation, under the role matrix of docs/architecture.md §1."""

    def __init__(self, *, max_rendered_chars: int = MAX_RENDERED_CHARS) -> None:
        self._max_rendered_chars = max_rendered_chars

    async def create_prompt(
        self,
        *,
        actor: Principal,
        organization_id: int,
        title: str,
        template: str,
        variables: object = None,
        category: PromptCategory = PromptCategory.OTHER,
        kind: GenerationKind = DEFAULT_KIND,
        language: Language = Language.FA,
        workspace_id: int | None = None,
    ) -> Prompt:
        """A new prompt of the organisation (or of one of its workspaces); editors and admins."""
        authorize(actor, organization_id, Action.MANAGE_PROMPTS)
        if workspace_id is not None:
            await _workspace_of(organization_id, workspace_id)
        checked = self.check_prompt(title=title, template=template, variables=variables)
        return await Prompt.create(
            organization_id=organization_id,
            workspace_id=workspace_id,
            title=checked.title,
            template=checked.template,
            variables=dump_variables(checked.variables),
            category=PromptCategory(category),
            kind=GenerationKind(kind),
            language=Language(language),
            created_by_id=actor.user_id,
        )

    def check_prompt(self, *, title: object, template: object, variables: object) -> CheckedPrompt:
        """What :meth:`create_prompt` would save, or the ``InvalidInput`` it would raise, without
        saving: a guided editor shows its summary only for a prompt that will be accepted
        (the same render bound included). Needs no actor: nothing is read or written."""
        declared = parse_variables(variables)
        return CheckedPrompt(
            title=clean_name(title, field="title"),
            template=check_template(
                template, declared, max_rendered_chars=self._max_rendered_chars
            ),
            variables=declared,
        )

    async def list_prompts(
        self,
        *,
        actor: Principal,
        filters: PromptFilters = PromptFilters(),
        offset: int = 0,
        limit: int = 20,
    ) -> Listing[Prompt]:
        """Prompts the actor may read; ``workspace_id`` means usable there (its own and org-wide).

        A filter on an organisation or workspace the actor cannot see is ``NotFound``.
        """
        query = visible_prompts()
        if filters.workspace_id is not None:
            workspace = await Workspace.get_or_none(id=filters.workspace_id, is_active=True)
            if workspace is None or filters.organization_id not in (
                None,
                workspace.organization_id,
            ):
                raise NotFound()
            authorize(actor, workspace.organization_id, Action.READ_CATALOG)
            query = query.filter(organization_id=workspace.organization_id).filter(
                Q(workspace_id__isnull=True) | Q(workspace_id=workspace.id)
            )
        elif filters.organization_id is not None:
            authorize(actor, filters.organization_id, Action.READ_CATALOG)
            query = query.filter(organization_id=filters.organization_id)
        else:
            query = query.filter(organization_id__in=readable_organization_ids(actor))
        if filters.category is not None:
            query = query.filter(category=filters.category)
        if filters.kind is not None:
            query = query.filter(kind=filters.kind)
        if filters.language is not None:
            query = query.filter(language=filters.language)
        return await fetch_listing(query, offset=offset, limit=limit)

    async def get_prompt(self, *, actor: Principal, prompt_id: int) -> Prompt:
        """One prompt the actor may read; ``NotFound`` for another tenant's."""
        return await _prompt_for(actor, prompt_id, Action.READ_CATALOG)

    async def update_prompt(
        self,
        *,
        actor: Principal,
        prompt_id: int,
        title: str | Unset = UNSET,
        template: str | Unset = UNSET,
        variables: object = UNSET,
        category: PromptCategory | Unset = UNSET,
        kind: GenerationKind | Unset = UNSET,
        language: Language | Unset = UNSET,
        workspace_id: int | Unset | None = UNSET,
    ) -> Prompt:
        """Change the given fields; the template and variables are checked together."""
        prompt = await _prompt_for(actor, prompt_id, Action.MANAGE_PROMPTS)
        changes: dict[str, Any] = {}
        if title is not UNSET:
            changes["title"] = clean_name(title, field="title")
        if category is not UNSET:
            changes["category"] = PromptCategory(category)
        if kind is not UNSET:
            changes["kind"] = GenerationKind(kind)
        if language is not UNSET:
            changes["language"] = Language(language)
        if workspace_id is not UNSET:
            if workspace_id is not None:
                await _workspace_of(prompt.organization_id, workspace_id)
            changes["workspace_id"] = workspace_id
        # Template and variables must agree, so when either changes the pair is read and written
        # under a row lock: two editors changing one each cannot combine into a template that
        # references a variable the other removed.
        async with in_transaction() as conn:
            locked = (
                await Prompt.filter(id=prompt.id, is_active=True)
                .select_for_update()
                .using_db(conn)
                .get_or_none()
            )
            if locked is None:
                raise NotFound()
            if template is not UNSET or variables is not UNSET:
                declared = parse_variables(locked.variables if variables is UNSET else variables)
                changes["template"] = check_template(
                    locked.template if template is UNSET else template,
                    declared,
                    max_rendered_chars=self._max_rendered_chars,
                )
                changes["variables"] = dump_variables(declared)
            if changes:
                await Prompt.filter(id=prompt.id).using_db(conn).update(**changes)
            return await Prompt.get(id=prompt.id, using_db=conn)

    async def delete_prompt(self, *, actor: Principal, prompt_id: int) -> None:
        """Retire a prompt (soft: contents keep pointing at it); editors and admins."""
        prompt = await _prompt_for(actor, prompt_id, Action.MANAGE_PROMPTS)
        if not await Prompt.filter(id=prompt.id, is_active=True).update(is_active=False):
            raise NotFound()


async def _prompt_for(actor: Principal, prompt_id: int, action: Action) -> Prompt:
    """A visible prompt if the actor's role allows ``action``; another tenant's is ``NotFound``."""
    prompt = await visible_prompts().get_or_none(id=prompt_id)
    if prompt is None:
        raise NotFound()
    authorize(actor, prompt.organization_id, action)
    return prompt


async def _workspace_of(organization_id: int, workspace_id: int) -> Workspace:
    """The organisation's active workspace ``workspace_id``; another tenant's is ``NotFound``."""
    workspace = await Workspace.get_or_none(
        id=workspace_id, organization_id=organization_id, is_active=True
    )
    if workspace is None:
        raise NotFound()
    return workspace
