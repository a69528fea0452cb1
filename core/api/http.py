"""Request parsing and response rendering shared by every route module.

Parsing failures raise ``InvalidInput`` (400) or ``NotFound`` (404 for a malformed id in the
path, since an id that cannot exist is an id that does not exist); the error middleware renders
them, so a route never builds an error response itself. A body over ``MAX_BODY_BYTES`` is refused
by aiohttp itself (413, see ``create_app``) before anything is read into memory.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from core.errors import InvalidInput, NotFound, UnsupportedMediaType, field_problems

ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_BODY_BYTES = 1_000_000
MAX_JSON_DEPTH = 32
MAX_ID = 2**31 - 1
JSON_TYPES = ("application/json",)
# Datetimes as pydantic writes them (UTC as "Z"), and int keys as strings, as json.dumps does.
_ORJSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS

logger = logging.getLogger(__name__)


async def parse_body(request: web.Request, model: type[ModelT]) -> ModelT:
    """The JSON body validated strictly as ``model``; an empty body counts as ``{}``."""
    raw = await request.read()
    if not raw.strip():
        return validate(model, {})
    if not _is_json(request.content_type):
        raise UnsupportedMediaType(content_type=request.content_type)
    try:
        data = json.loads(raw)
    except RecursionError as exc:
        logger.info("refused a JSON body nested too deep (%d bytes)", len(raw))
        raise InvalidInput("json_too_deep", max_depth=MAX_JSON_DEPTH) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("invalid_json") from exc
    data = _integral(data)
    _check_tree(data, len(raw))
    # Strict, as JSON: "2" is not 2 and true is not 1, as the document says.
    try:
        return model.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        raise InvalidInput("invalid_input", fields=field_problems(exc)) from exc


def _is_json(content_type: str) -> bool:
    return content_type in JSON_TYPES or content_type.endswith("+json")


def parse_query(request: web.Request, model: type[ModelT]) -> ModelT:
    """The query string validated as ``model`` (each parameter taken once); unknown names: 400."""
    unknown = sorted({_shown(key) for key in request.query if key not in model.model_fields})
    if unknown:
        raise InvalidInput("unknown_parameters", parameters=", ".join(unknown), names=unknown)
    data = {key: request.query.get(key) for key in request.query}
    _check_tree(data, 0)
    return validate(model, data)


def _shown(name: str) -> str:
    """A parameter name safe to echo: escaped when not printable, and short."""
    shown = name if name.isprintable() else name.encode("unicode_escape").decode("ascii")
    return shown[:64]


def _check_tree(data: Any, size: int) -> None:
    """Refuse U+0000 (PostgreSQL cannot store it in text) and nesting over ``MAX_JSON_DEPTH``;
    integral floats become ints on the way.

    Iterative on purpose: a recursive walk is what a deeply nested body would overflow.
    """
    stack: list[tuple[Any, str, int]] = [(data, "body", 0)]
    while stack:
        value, field, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise InvalidInput("invalid_characters", field=field)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth >= MAX_JSON_DEPTH:
            logger.info("refused a JSON body nested too deep (%d bytes)", size)
            raise InvalidInput("json_too_deep", max_depth=MAX_JSON_DEPTH)
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    raise InvalidInput("invalid_characters", field=field)
                value[key] = _integral(item)
                stack.append((item, key, depth + 1))
        else:
            for index, item in enumerate(value):
                value[index] = _integral(item)
                stack.append((item, field, depth + 1))


def _integral(value: Any) -> Any:
    """``3.0`` as ``3``: JSON Schema counts an integral number as an integer, and so do we."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def validate(model: type[ModelT], data: Any) -> ModelT:
    """``model`` built from ``data``; pydantic's complaints become one 400 with the fields named."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput("invalid_input", fields=field_problems(exc)) from exc


def path_id(request: web.Request, name: str = "id") -> int:
    """An integer id from the path; anything else is a resource that cannot exist (404)."""
    raw = request.match_info.get(name, "")
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        raise NotFound()
    return int(raw)


def json_response(
    payload: BaseModel | dict[str, Any] | list[Any],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Serialise a pydantic model (by its JSON mode) or plain data straight to UTF-8 bytes.

    No ``str`` in between: pydantic's serializer and orjson both write bytes, which aiohttp
    sends as they are (``ensure_ascii`` off: Persian goes out as UTF-8, not ``\\uXXXX``).
    """
    if isinstance(payload, BaseModel):
        body = payload.__pydantic_serializer__.to_json(payload)
    else:
        body = orjson.dumps(payload, default=str, option=_ORJSON_OPTIONS)
    return web.Response(
        body=body, status=status, content_type="application/json", charset="utf-8", headers=headers
    )


def no_content() -> web.Response:
    return web.Response(status=204)


def given_fields(
    body: BaseModel, *, exclude: set[str] | frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The fields the client sent with a value (null and absent both mean "unchanged")."""
    return {
        name: getattr(body, name)
        for name in type(body).model_fields
        if name not in exclude and getattr(body, name) is not None
    }
