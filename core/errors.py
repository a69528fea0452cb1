"""Domain errors: a stable snake_case ``code``, parameters, and a category.

Services raise these; the REST sidecar maps the category to an HTTP status and the bot
renders ``code`` from its locale files. The message text of each code lives in
``core/locales/<lang>/*.json`` so both adapters show the same words in the user's language.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ValidationError

from core.i18n import catalog, translate


class DomainError(Exception):
    """Base of every error a person may be shown."""

    code: ClassVar[str] = "error"

    def __init__(self, code: str | None = None, /, **params: Any) -> None:
        self.code = code or type(self).code
        self.params = params
        super().__init__(self.code)

    def message(self, language: str = "en") -> str:
        """The human text of this error in ``language`` (fa or en)."""
        return translate(language, f"error.{self.code}", **self.params)

    def __str__(self) -> str:
        return f"{self.code}: {self.message('en')}"


class InvalidInput(DomainError):
    """The caller sent something malformed (400)."""

    code = "invalid_input"


class UnsupportedMediaType(DomainError):
    """A body that is not JSON where JSON is expected (415)."""

    code = "unsupported_media_type"


class Unauthenticated(DomainError):
    """No identity, or a bad, expired or revoked credential (401)."""

    code = "not_authenticated"


class PermissionDenied(DomainError):
    """The resource exists for the caller, but their role is too low (403)."""

    code = "permission_denied"


class NotFound(DomainError):
    """Unknown, deleted or another tenant's resource: all look the same (404)."""

    code = "not_found"


class LimitExceeded(DomainError):
    """A usage limit refuses the request (402)."""

    code = "usage_limit_exceeded"


class Conflict(DomainError):
    """Wrong state for the transition, or a duplicate (409)."""

    code = "conflict"


class RateLimited(DomainError):
    """Too many requests; ``retry_after`` seconds tells when to come back (429)."""

    code = "rate_limited"

    def __init__(self, code: str | None = None, /, *, retry_after: int, **params: Any) -> None:
        super().__init__(code, retry_after=max(1, int(retry_after)), **params)
        self.retry_after = self.params["retry_after"]


class ServiceUnavailable(DomainError):
    """An outside service (SMS gateway, model) failed; try again later (503)."""

    code = "service_unavailable"


class ConfigurationError(DomainError):
    """The deployment is misconfigured (e.g. a model without a price); not the user's fault."""

    code = "configuration_error"


# Context values of pydantic errors that the locale texts may name (``$max_length`` …).
_PROBLEM_CONTEXT = ("min_length", "max_length", "ge", "le", "gt", "lt", "expected", "error")


def field_problems(exc: ValidationError, *prefix: str) -> list[dict[str, Any]]:
    """``[{"field", "problem", "type", "context"}]`` of a pydantic error, for ``InvalidInput``.

    ``problem`` is pydantic's English text; ``type`` and ``context`` let an adapter say it in
    the reader's language (:func:`localize_problem`).
    """
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        context = {k: str(v) for k, v in (err.get("ctx") or {}).items() if k in _PROBLEM_CONTEXT}
        problems.append(
            {
                "field": ".".join([*prefix, *(str(p) for p in err["loc"])]) or "body",
                "problem": err["msg"],
                "type": err["type"],
                "context": context,
            }
        )
    return problems


def localize_problem(problem: dict[str, Any], language: str) -> dict[str, str]:
    """``{"field", "problem"}`` with the problem in ``language`` when its type has a text."""
    key = f"problem.{problem.get('type')}"
    text = problem.get("problem", "")
    if key in catalog(language):
        text = translate(language, key, **problem.get("context", {}))
    return {"field": str(problem.get("field", "body")), "problem": text}
