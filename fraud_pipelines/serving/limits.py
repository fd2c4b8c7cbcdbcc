"""What one request may cost the service: a body-size limit enforced before the body is read,
and validation errors bounded in size that never echo a large input back.

FastAPI's own `max_body_size` answers a plain-text "Content Too Large"; this one answers JSON that
names the limit and its setting, and closes the connection on the unread rest of the body."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

MAX_ERRORS = 10  # errors listed in one 422; the rest are counted
_MAX_TEXT = 200  # characters of one message
_MAX_LOC = 64  # characters of one location part (a key name comes from the client)
_MAX_INPUT = 40  # characters of an input value echoed back; longer ones are left out


class BodySizeLimit:
    """Pure ASGI middleware: a declared Content-Length above `max_bytes` gets a 413 before any byte
    of the body is read; a body without one (chunked) is cut off with a 413 once it passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await _refuse(send, self.max_bytes, value.decode("latin-1")[:20])
                    return
                break
        received = 0
        limit = self.max_bytes

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, detail=_too_large(limit, f"more than {limit:,}"),
                                        headers={"Connection": "close"})  # the rest of the body is never read
            return message

        await self.app(scope, counted, send)


def _too_large(limit: int, size: str) -> str:
    return (f"request body of {size} bytes is over the limit of {limit:,} bytes "
            "(FRAUD_SERVING_MAX_BODY_BYTES); split the batch")


async def _refuse(send: Callable[[Message], Awaitable[None]], limit: int, declared: str) -> None:
    import json

    body = json.dumps({"detail": _too_large(limit, declared)}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def bounded_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors as (loc, type, msg[, input]): at most MAX_ERRORS of them, each short, an
    input echoed only when it is a short scalar (NaN and infinities by name)."""
    out = []
    for error in errors[:MAX_ERRORS]:
        item: dict[str, Any] = {
            "loc": [part if isinstance(part, int) else _clip(str(part), _MAX_LOC) for part in error.get("loc", ())],
            "type": _clip(str(error.get("type", "")), _MAX_LOC),
            "msg": _clip(str(error.get("msg", "")), _MAX_TEXT),
        }
        value = error.get("input")
        if isinstance(value, float) and not math.isfinite(value):
            item["input"] = str(value)
        elif isinstance(value, (bool, int, float)) and len(repr(value)) <= _MAX_INPUT:
            item["input"] = value
        elif isinstance(value, str) and len(value) <= _MAX_INPUT:
            item["input"] = value
        out.append(item)
    if len(errors) > MAX_ERRORS:
        out.append({"loc": ["body"], "type": "too_many_errors",
                    "msg": f"{len(errors) - MAX_ERRORS} more errors not listed; fix the ones above first"})
    return out


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
