"""The scoring routes served before FastAPI's middleware stack answer exactly as through it: the same
status, headers and body for good requests and for every refusal (401, 413 declared and streamed, 422
of the body, the query and the content type, a batch over its limit), on the real app with its
lifespan, its SQLite online store and its champion. The stack still serves them when it does more
(a middleware added), and a client that leaves costs no error."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from fraud_pipelines.serving.app import create_app
from fraud_pipelines.serving.settings import ServingSettings

TOKEN = "hot-path-token"
LATER = "2025-01-25T12:00:00+00:00"
LIMIT = 4_096


def _charge(card: int, minute: int = 0, **changes: Any) -> dict[str, Any]:
    charge = {"cc_num": card, "datetime": f"2025-01-25T12:{minute:02d}:00+00:00", "amount": 42.5,
              "category": "Grocery", "latitude": 48.85, "longitude": 2.35, "tid": 9_000_000 + minute}
    return {**charge, **changes}


def _requests(cards: list[int]) -> list[tuple[str, str, list[bytes], dict[str, str]]]:
    """(name, path with query, body chunks, headers): what a client may send, good and bad."""
    auth = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    one = json.dumps(_charge(cards[0])).encode()
    batch = json.dumps({"transactions": [_charge(card, minute) for minute, card in enumerate(cards[:3])]}).encode()
    return [
        ("a charge", "/predict", [one], auth),
        ("with features and reasons", "/predict?include_features=true&include_reasons=1", [one], auth),
        ("a batch", "/predict/batch?include_reasons=true", [batch], auth),
        ("in chunks", "/predict", [one[:15], one[15:]], auth),
        ("no content type", "/predict", [one], {"authorization": f"Bearer {TOKEN}"}),
        ("no token", "/predict", [one], {"content-type": "application/json"}),
        ("a wrong token", "/predict", [one], {**auth, "authorization": "Bearer nope"}),
        ("another scheme", "/predict/batch", [batch], {**auth, "authorization": f"Basic {TOKEN}"}),
        ("not JSON", "/predict", [b"{not json"], auth),
        ("bad fields", "/predict", [json.dumps(_charge(cards[0], amount=0, category="", latitude=91)).encode()],
         auth),
        ("a string amount", "/predict", [json.dumps(_charge(cards[0], amount="NaN")).encode()], auth),
        ("a bad flag", "/predict?include_reasons=maybe", [one], auth),
        ("text", "/predict", [one], {**auth, "content-type": "text/plain"}),
        ("a batch over its limit", "/predict/batch",
         [json.dumps({"transactions": [_charge(cards[0], m % 60) for m in range(4)]}).encode()], auth),
        ("declared too large", "/predict", [b"{}"], {**auth, "content-length": str(LIMIT + 1)}),
        ("streamed too large", "/predict/batch", [b" " * 3_000, b" " * 3_000], auth),
    ]


async def _ask(app: Any, path: str, chunks: list[bytes], headers: dict[str, str]) -> tuple[int, list, bytes]:
    """One request through `app` (an ASGI callable): its status, headers and body."""
    route, _, query = path.partition("?")
    pending = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
               for i, chunk in enumerate(chunks)]

    async def receive() -> dict[str, Any]:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    if len(chunks) == 1 and "content-length" not in headers:
        headers = {**headers, "content-length": str(len(chunks[0]))}
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": route, "raw_path": route.encode(), "root_path": "", "query_string": query.encode(),
             "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
             "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "state": {}}
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], sorted(start["headers"]), body


@pytest.fixture
def served(home, monkeypatch):
    """The service's app on `home`, its lifespan entered on one event loop for the whole test."""
    monkeypatch.setenv("FRAUD_HOME", str(home.path))
    monkeypatch.setenv("FRAUD_ONLINE_STORE", "sqlite")

    def run(check, *, extra_middleware: bool = False) -> None:
        app = create_app(ServingSettings(token=TOKEN, max_batch=3, max_body_bytes=LIMIT))
        if extra_middleware:
            app.add_middleware(GZipMiddleware)

        async def main() -> None:
            async with app.router.lifespan_context(app):
                await check(app)
        asyncio.run(main())
    return run


def test_the_hot_routes_answer_as_the_stack_does(served, card_numbers):
    cards = list(card_numbers.values())[:5]

    async def check(app):
        assert set(app.hot_routes) == {"/predict", "/predict/batch"}
        statuses = {}
        for name, path, chunks, headers in _requests(cards):
            hot = await _ask(app, path, chunks, headers)
            stack = await _ask(lambda *a: FastAPI.__call__(app, *a), path, chunks, headers)
            assert hot == stack, name
            statuses[name] = hot[0]
        assert statuses == {
            "a charge": 200, "with features and reasons": 200, "a batch": 200, "in chunks": 200,
            "no content type": 200, "no token": 401, "a wrong token": 401, "another scheme": 401, "not JSON": 422,
            "bad fields": 422, "a string amount": 422, "a bad flag": 422, "text": 422, "a batch over its limit": 422,
            "declared too large": 413, "streamed too large": 413}
    served(check)


def test_the_stack_serves_them_when_it_does_more(served, card_numbers):
    card = next(iter(card_numbers.values()))

    async def check(app):
        assert app.hot_routes == {}
        status, headers, body = await _ask(app, "/predict", [json.dumps(_charge(card)).encode()],
                                           {"authorization": f"Bearer {TOKEN}", "accept-encoding": "gzip"})
        assert status == 200 and 0 <= json.loads(body)["score"] <= 1  # small answers are not compressed
    served(check, extra_middleware=True)


def test_a_client_that_leaves_costs_no_error(served):
    async def check(app):
        sent = []

        async def receive():
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/predict", "root_path": "", "query_string": b"",
                 "headers": [(b"authorization", f"Bearer {TOKEN}".encode())]}
        await app(scope, receive, send)
        assert sent == []
    served(check)
