"""OpenAPI 3.1 for the sidecar, built from the same pydantic models that validate requests."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

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
ERROR_STATUSES = {
    400: "Invalid input",
    401: "No or bad token",
    402: "Usage limit exceeded",
    403: "Role too low",
    404: "Not found",
    409: "Conflict",
    429: "Rate limited",
    503: "A dependency is unavailable",
}


def build_spec(tables: list[ApiRoutes], *, version: str) -> dict[str, Any]:
    """The whole document: paths from every table, schemas from every model they name."""
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for table in tables:
        for operation in table.operations:
            path = paths.setdefault(operation.path, {})
            path[operation.method.lower()] = _operation(operation, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Contexor API", "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _operation(op: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "summary": op.summary,
        "tags": [op.tag],
        "operationId": _operation_id(op),
        "parameters": _path_parameters(op.path) + _query_parameters(op.query, schemas),
        "responses": _responses(op, schemas),
    }
    if op.auth:
        spec["security"] = [{"bearer": []}]
    if op.body is not None:
        # The parser reads an empty body as {}: the body is optional when no field is required.
        spec["requestBody"] = {
            "required": bool(op.body.model_json_schema().get("required")),
            "content": {"application/json": {"schema": _ref(op.body, schemas)}},
        }
    return spec


def _responses(op: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if op.response is None:
        responses[str(op.status)] = {"description": "Done"}
    else:
        responses[str(op.status)] = {
            "description": "Success",
            "content": {"application/json": {"schema": _ref(op.response, schemas)}},
        }
    wanted = {400, *op.errors}
    if op.auth:
        wanted |= {401}
    if "{" in op.path:
        wanted |= {404}
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for status in sorted(wanted):
        description = ERROR_STATUSES.get(status, "Error")
        responses[str(status)] = {"description": description, "content": error_content}
    return responses


def _ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF_TEMPLATE, mode="serialization")
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    name = _schema_name(model)
    schemas[name] = schema
    return {"$ref": REF_TEMPLATE.format(model=name)}


def _schema_name(model: type[BaseModel]) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", model.__name__)


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
        for name in re.findall(r"{(\w+)}", path)
    ]


def _query_parameters(model: type[BaseModel] | None, schemas: dict[str, Any]) -> list[dict]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation_id(op: Operation) -> str:
    words = re.sub(r"[{}]", "", op.path).strip("/").replace("/", "_").replace("-", "_")
    return f"{op.method.lower()}_{words}"


DOCS_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Contexor API</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/api/openapi.json", dom_id: "#ui"});</script>
</body></html>"""
