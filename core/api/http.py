"""Request parsing and response rendering shared by every route module.

Parsing failures raise ``InvalidInput`` (400) or ``NotFound`` (404 for a malformed id in the
path, since an id that cannot exist is an id that does not exist); the error middleware renders
them, so a route never builds an error response itself.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from core.errors import InvalidInput, NotFound

ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_BODY_BYTES = 1_000_000
MAX_ID = 2**31 - 1


async def parse_body(request: web.Request, model: type[ModelT]) -> ModelT:
    """The JSON body validated as ``model``; an empty body counts as ``{}``."""
    raw = await request.read()
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidInput("body_too_large")
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("invalid_json") from exc
    _refuse_nul(data)
    return validate(model, data)


def parse_query(request: web.Request, model: type[ModelT]) -> ModelT:
    """The query string validated as ``model`` (each parameter taken once)."""
    data = {key: request.query.get(key) for key in request.query}
    _refuse_nul(data)
    return validate(model, data)


def _refuse_nul(data: Any, field: str = "body") -> None:
    """PostgreSQL cannot store U+0000 in text: refuse it here, naming the field."""
    if isinstance(data, str):
        if "\x00" in data:
            raise InvalidInput("invalid_characters", field=field)
    elif isinstance(data, dict):
        for key, value in data.items():
            _refuse_nul(key, field)
            _refuse_nul(value, str(key).replace("\x00", ""))
    elif isinstance(data, list):
        for item in data:
            _refuse_nul(item, field)


def validate(model: type[ModelT], data: Any) -> ModelT:
    """``model`` built from ``data``; pydantic's complaints become one 400 with the fields named."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in err["loc"]) or "body", "problem": err["msg"]}
            for err in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise InvalidInput("invalid_input", fields=fields) from exc


def path_id(request: web.Request, name: str = "id") -> int:
    """An integer id from the path; anything else is a resource that cannot exist (404)."""
    raw = request.match_info.get(name, "")
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        raise NotFound()
    return int(raw)


def json_response(
    payload: BaseModel | dict[str, Any] | list[Any], status: int = 200
) -> web.Response:
    """Serialise a pydantic model (by its JSON mode) or plain data as the response body."""
    if isinstance(payload, BaseModel):
        text = payload.model_dump_json()
    else:
        text = json.dumps(payload, ensure_ascii=False, default=str)
    return web.Response(text=text, status=status, content_type="application/json")


def no_content() -> web.Response:
    return web.Response(status=204)
