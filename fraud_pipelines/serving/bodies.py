"""Request bodies validated straight from their JSON bytes (`model_validate_json`: pydantic parses
and validates in one pass), instead of FastAPI's body handling, which decodes the JSON into Python
dicts and validates those again (the scoring routes read their boolean query flags themselves,
`scoring_routes.query_flags`). Same rules, same 422 shape (`loc` starts with "body" or "query"),
and the OpenAPI document still describes each body and flag."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


async def json_bytes(request: Request) -> bytes:
    """The body of a JSON request (a missing Content-Type counts as JSON, as in FastAPI)."""
    content_type = request.headers.get("content-type")
    if content_type and not is_json(content_type):
        raise RequestValidationError([{"loc": ("body",), "type": "content_type",
                                       "msg": "the body must be JSON (Content-Type: application/json)"}])
    return await request.body()


def validated(model: type[Model], body: bytes, context: dict[str, Any]) -> Model:
    """`body` as `model`, or a RequestValidationError naming each bad field."""
    try:
        return model.model_validate_json(body, context=context)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False, include_context=False)]
        ) from None


def body_openapi(model: type[BaseModel], flags: dict[str, str] | None = None) -> dict[str, Any]:
    """`openapi_extra` of a route that reads `model` itself: its required JSON request body, and
    the boolean query `flags` (name: description) it reads itself."""
    extra: dict[str, Any] = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}
    if flags:
        extra["parameters"] = [{"name": name, "in": "query", "required": False, "description": description,
                                "schema": {"type": "boolean", "default": False}} for name, description in flags.items()]
    return extra


def add_schemas(openapi: dict[str, Any], *models: type[BaseModel]) -> dict[str, Any]:
    """Put `models` (and the models they nest) into the document's components."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return openapi


def is_json(content_type: str) -> bool:
    """application/json or any `+json` type, parameters ignored (FastAPI's rule)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))
