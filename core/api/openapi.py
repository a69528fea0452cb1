"""OpenAPI 3.1 for the sidecar, built from the same pydantic models that validate requests."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from core.api.routing import ApiRoutes, Operation

REF_TEMPLATE = "#/components/schemas/{model}"
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "additionalProperties": True,
        }
    },
}
NO_NUL_PATTERN = "^[^\\x00]*$"
DESCRIPTION = """Contexor's REST API. Every error is `{"error": {"code", "message", ...}}` with
messages in the language of `Accept-Language` (fa or en).

Rules the server enforces beyond each schema: bodies are JSON (`Content-Type: application/json`,
else 415) of at most 1,000,000 bytes (413), nested at most 32 levels (400 `json_too_deep`);
types are strict (`"2"` is not 2, `true` is not 1); unknown body fields and unknown query
parameters are refused (400); no text may contain U+0000 (400 `invalid_characters`); phone
numbers must be valid mobile numbers of an accepted region (400 `invalid_phone`); generate
`variables` must be declared by the content's prompt. An id the caller cannot see, including
another organisation's prompt, answers 404. When the database or Redis is unreachable calls
answer 503 with `Retry-After`."""
ERROR_STATUSES = {
    400: "Invalid input",
    401: "No or bad token",
    402: "Usage limit exceeded",
    403: "Role too low",
    404: "Not found",
    409: "Conflict",
    413: "Body over 1,000,000 bytes",
    415: "The body is not JSON",
    429: "Rate limited",
    503: "A dependency is unavailable",
}


def build_spec(tables: list[ApiRoutes], *, version: str) -> dict[str, Any]:
    """The whole document: paths from every table, schemas from every model they name.

    Request bodies and query strings are described as validated (bounds, patterns, strict
    types), answers as serialised; a model used both ways and shaped differently gets two names
    (``…-Input``/``…-Output``), chosen by pydantic.
    """
    operations = [op for table in tables for op in table.operations]
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for op in operations:
        wanted += [(m, "validation") for m in (op.body, op.query) if m is not None]
        wanted += [(m, "serialization") for m in (op.response, *dict(op.error_bodies).values())]
    wanted = [pair for pair in wanted if pair[0] is not None]
    refs, definitions = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF_TEMPLATE)
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    for schema in schemas.values():
        _refuse_nul_in_strings(schema)
    schemas["Error"] = ERROR_SCHEMA
    paths: dict[str, Any] = {}
    for op in operations:
        path = paths.setdefault(op.path, {})
        path[op.method.lower()] = _operation(op, refs, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Contexor API", "version": version, "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


Refs = dict[tuple[type[BaseModel], JsonSchemaMode], Any]


def _operation(op: Operation, refs: Refs, schemas: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "summary": op.summary,
        "tags": [op.tag],
        "operationId": _operation_id(op),
        "parameters": _path_parameters(op.path) + _query_parameters(op.query, refs, schemas),
        "responses": _responses(op, refs),
    }
    if op.auth:
        spec["security"] = [{"bearer": []}]
    if op.body is not None:
        # The parser reads an empty body as {}: the body is optional when no field is required.
        spec["requestBody"] = {
            "required": bool(op.body.model_json_schema().get("required")),
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    return spec


def _responses(op: Operation, refs: Refs) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if op.response is None:
        responses[str(op.status)] = {"description": "Done"}
    else:
        responses[str(op.status)] = {
            "description": "Success",
            "content": {"application/json": {"schema": refs[(op.response, "serialization")]}},
        }
    wanted = {400, *op.errors}
    if op.auth:
        wanted |= {401}
    if "{" in op.path:
        wanted |= {404}
    if op.body is not None:
        wanted |= {413, 415}
    own_bodies = dict(op.error_bodies)
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for status in sorted(wanted):
        content = error_content
        if status in own_bodies:
            schema = refs[(own_bodies[status], "serialization")]
            content = {"application/json": {"schema": schema}}
        description = ERROR_STATUSES.get(status, "Error")
        responses[str(status)] = {"description": description, "content": content}
        if status == 401:
            responses["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if status in (429, 503):
            retry = {"description": "Seconds to wait", "schema": {"type": "string"}}
            responses[str(status)]["headers"] = {"Retry-After": retry}
    return responses


def _refuse_nul_in_strings(schema: Any) -> None:
    """Every free-text string says what the parser enforces: no U+0000 anywhere."""
    if isinstance(schema, dict):
        if schema.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(
            schema
        ):
            schema["pattern"] = NO_NUL_PATTERN
        for value in schema.values():
            _refuse_nul_in_strings(value)
    elif isinstance(schema, list):
        for item in schema:
            _refuse_nul_in_strings(item)


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
        for name in re.findall(r"{(\w+)}", path)
    ]


def _query_parameters(
    model: type[BaseModel] | None, refs: Refs, schemas: dict[str, Any]
) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = _resolve(refs[(model, "validation")], schemas)
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = _without_null(dict(prop))
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if prop.get("deprecated"):
            parameter["deprecated"] = True
        parameters.append(parameter)
    return parameters


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return schemas[ref.rsplit("/", 1)[-1]] if ref else schema


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or has a value: ``null`` is not something it can carry."""
    branches = [b for b in prop.get("anyOf", []) if b.get("type") != "null"]
    if "anyOf" in prop and len(branches) == 1:
        merged = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
        return {**branches[0], **merged}
    if "default" in prop and prop["default"] is None:
        del prop["default"]
    return prop


def _operation_id(op: Operation) -> str:
    words = re.sub(r"[{}]", "", op.path).strip("/").replace("/", "_").replace("-", "_")
    return f"{op.method.lower()}_{words}"
