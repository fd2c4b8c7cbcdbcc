"""POST /predict and /predict/batch as plain ASGI endpoints: the hot path of the service, without
FastAPI's per-request machinery (dependency solving, request and response objects, a thread-pool
hop for the whole request).

Measured on one /predict request in process (uvicorn's ASGI interface, no sockets), the request
around the score cost ~320 us of CPU against a bare FastAPI endpoint's ~60 us: ~170 us of that was
the hop to anyio's thread pool and back with the whole score on the worker thread, ~100 us FastAPI's
routing, dependencies (the bearer check) and responses. Here:

- the bearer token is compared inline (`secrets.compare_digest`, same 401 as before);
- the body is read from the ASGI messages (the app's `BodySizeLimit` still wraps them: 413 beyond
  the limit) and validated from its bytes as before (`bodies.validated`, the contract's rules);
- only the card-state read leaves the event loop: through the store's asyncio client where it has
  one (Redis: no thread at all), else on a small dedicated thread pool (SQLite); the features,
  trees and response are computed on the loop (a fraction of a millisecond of pure Python);
- a batch is read and scored on that pool (its many reads are blocking I/O);
- errors are raised as before (RequestValidationError, HTTPException, ServiceUnavailable) and turned
  into responses by the app's exception handlers: the same status codes and bodies.

The routes are documented in the OpenAPI document by declarations that are never served
(`documented_routes`), so /docs and /openapi.json describe them as before.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Executor
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect

from fraud_pipelines.serving.bodies import is_json, validated
from fraud_pipelines.serving.schemas import Transaction

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_FLAG = TypeAdapter(bool)
_JSON_HEADERS = [(b"content-type", b"application/json")]
#: One encoder for every answer (`json.dumps` with options builds a new one per call).
_ENCODE = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode


class BearerCheck:
    """`Authorization: Bearer <token>` compared in constant time; a 401 naming the variable otherwise
    (what FastAPI's HTTPBearer dependency and our guard answered)."""

    def __init__(self, token: str, variable: str) -> None:
        self.token = token.encode()
        self.variable = variable

    def __call__(self, headers: list[tuple[bytes, bytes]]) -> None:
        """Raise HTTPException(401) unless `headers` carry the token."""
        for name, value in headers:
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                credentials = credentials.strip()
                if scheme.lower() == b"bearer" and credentials and secrets.compare_digest(credentials, self.token):
                    return
                break
        raise HTTPException(401, detail=f"missing or wrong bearer token (Authorization: Bearer <{self.variable}>)",
                            headers={"WWW-Authenticate": "Bearer"})


class ScoringRoute:
    """One scoring endpoint as an ASGI app (mount it with `starlette.routing.Route(path, it, methods=["POST"])`).

    `score_one(transaction, flags)` (a coroutine) answers /predict; `score_many(body, flags)` (blocking,
    run on `executor`) answers /predict/batch: pass exactly one of them."""

    def __init__(self, *, flags: tuple[str, ...], context: dict[str, Any], executor: Executor,
                 bearer: BearerCheck | None = None,
                 score_one: Callable[[Transaction, dict[str, bool]], Awaitable[Any]] | None = None,
                 score_many: Callable[[bytes, dict[str, bool]], Any] | None = None) -> None:
        if (score_one is None) == (score_many is None):
            raise ValueError("pass exactly one of score_one and score_many")
        self.flags = flags
        self.context = context
        self.executor = executor
        self.bearer = bearer
        self.score_one = score_one
        self.score_many = score_many

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope["headers"]
        if self.bearer is not None:
            self.bearer(headers)
        flags = query_flags(scope.get("query_string", b""), self.flags)
        _require_json(headers)
        body = await read_body(receive)
        if self.score_one is not None:
            answer = await self.score_one(validated(Transaction, body, self.context), flags)
        else:
            answer = await asyncio.get_running_loop().run_in_executor(self.executor, self.score_many, body, flags)
        payload = _ENCODE(answer).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def query_flags(query_string: bytes, names: tuple[str, ...]) -> dict[str, bool]:
    """The boolean query parameters `names` (false when absent), read as FastAPI reads a `bool`
    ("true", "1", "yes", "on", ... / "false", "0", "no", "off", ...); anything else is a 422."""
    flags = dict.fromkeys(names, False)
    if not query_string:
        return flags
    given = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))  # the last value wins
    for name in names:
        raw = given.get(name)
        if raw is None:
            continue
        try:
            flags[name] = _FLAG.validate_python(raw)
        except ValidationError as error:
            raise RequestValidationError(
                [{**e, "loc": ("query", name)} for e in error.errors(include_url=False, include_context=False)]
            ) from None
    return flags


async def read_body(receive: Receive) -> bytes:
    """The whole request body from the ASGI messages (a client that leaves raises ClientDisconnect)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _require_json(headers: list[tuple[bytes, bytes]]) -> None:
    """A 422 for a body declared as something other than JSON (no Content-Type counts as JSON)."""
    for name, value in headers:
        if name == b"content-type":
            if not is_json(value.decode("latin-1")):
                raise RequestValidationError([{"loc": ("body",), "type": "content_type",
                                               "msg": "the body must be JSON (Content-Type: application/json)"}])
            return

