"""Request bodies validated straight from their JSON bytes (`model_validate_json`: pydantic parses
and validates in one pass), instead of FastAPI's body handling, which decodes the JSON into Python
dicts and validates those again; boolean query flags read the same way, without FastAPI's
per-request dependency solving. Same rules, same 422 shape (`loc` starts with "body" or "query"),
and the OpenAPI document still describes each body and flag."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError

Model = TypeVar("Model", bound=BaseModel)
_FLAG = TypeAdapter(bool)


async def json_bytes(request: Request) -> bytes:
    """The body of a JSON request (a missing Content-Type counts as JSON, as in FastAPI)."""
    content_type = request.headers.get("content-type")
    if content_type and not _is_json(content_type):
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


def query_flag(request: Request, name: str) -> bool:
    """The boolean query parameter `name` (false when absent), read as FastAPI reads a `bool`
    ("true", "1", "yes", "on", ... / "false", "0", "no", "off", ...); anything else is a 422."""
    if not request.scope.get("query_string"):
        return False
    raw = request.query_params.get(name)
    if raw is None:
        return False
    try:
        return _FLAG.validate_python(raw)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("query", name)} for e in error.errors(include_url=False, include_context=False)]
        ) from None


def body_openapi(model: type[BaseModel], flags: dict[str, str] | None = None) -> dict[str, Any]:
    """`openapi_extra` of a route that reads `model` itself: its required JSON request body, and
    the boolean query `flags` (name: description) it reads with `query_flag`."""
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


def _is_json(content_type: str) -> bool:
    """application/json or any `+json` type, parameters ignored (FastAPI's rule)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))
