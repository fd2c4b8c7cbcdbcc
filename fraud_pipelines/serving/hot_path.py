"""The scoring routes served straight from the app's ASGI call, before FastAPI's middleware stack.

A request to POST /predict otherwise passes eight layers on its way in and out (server errors,
telemetry, FastAPI's body limit, our body limit, exceptions, the exit stack, the router, the route),
each an awaited call, most wrapping `send`: measured in process (uvloop, no sockets, 1,500 requests),
~30 us of the event loop's ~165 us per request. `ServingApp` sends the hot routes to their ASGI
endpoint with our body limit around it and answers their exceptions with the app's own exception
handlers, so the status codes, headers and bodies are the same as through the stack (the tests hold
both paths to the same answers). Everything else, and the hot routes too whenever the stack does
something more (FastAPI's OpenTelemetry enabled, middleware added after the hot routes, a proxy
root path), goes through the stack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from fraud_pipelines.serving.limits import BodySizeLimit

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


class ServingApp(FastAPI):
    """FastAPI whose `hot_routes` (POST path -> ASGI endpoint, also mounted in the router) skip the
    middleware stack once `enable_hot_routes` has found nothing in it that they would miss."""

    hot_routes: dict[str, ASGIApp] = {}

    def enable_hot_routes(self, routes: dict[str, ASGIApp]) -> bool:
        """Serve `routes` directly, behind the app's own `BodySizeLimit` middleware (the same one, with
        the same limit), unless the stack does more than that and the exception handlers; returns
        whether they are served directly. Call it at start-up, when the telemetry a deployment
        configures is in place."""
        telemetry = getattr(self, "_native_telemetry", None)
        limits = [m for m in self.user_middleware if m.cls is BodySizeLimit]
        server_error_handler = Exception in self.exception_handlers or 500 in self.exception_handlers
        if (self.root_path or len(limits) != len(self.user_middleware) or len(limits) > 1 or server_error_handler
                or (telemetry is not None and telemetry.enabled())):
            self.hot_routes = {}
            return False
        wrap = (lambda route: BodySizeLimit(route, **limits[0].kwargs)) if limits else (lambda route: route)
        self.hot_routes = {path: wrap(route) for path, route in routes.items()}
        return True

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            route = self.hot_routes.get(scope["path"])
            if route is not None:
                await self._serve_hot(route, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _serve_hot(self, route: ASGIApp, scope: Scope, receive: Any, send: Any) -> None:
        """`route`, its exceptions answered by the handler the stack would use; an exception without
        one is raised to the server (a 500 and the traceback in its log, as through the stack)."""
        scope["app"] = self
        try:
            await route(scope, receive, send)
        except ClientDisconnect:  # the client has gone: nobody to answer
            return
        except Exception as error:
            handler = self._handler_for(error)
            if handler is None:
                raise
            response = await handler(Request(scope, receive), error)
            await response(scope, receive, send)

    def _handler_for(self, error: Exception) -> Callable[..., Awaitable[Any]] | None:
        """The handler registered for `error`'s status code (an HTTPException) or for the nearest class
        of `error`, as Starlette's ExceptionMiddleware looks them up."""
        if isinstance(error, HTTPException) and error.status_code in self.exception_handlers:
            return self.exception_handlers[error.status_code]
        for kind in type(error).__mro__:
            handler = self.exception_handlers.get(kind)
            if handler is not None:
                return handler
        return None
