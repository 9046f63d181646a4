"""The outermost layer: a request id, one structured log line, metrics, and a last resort.

Nothing ever answers 500: an exception that escapes every handler is logged
with the request id and answered 503 `unavailable` (the database went away, a
disk filled up …): retrying with the same id is always safe.
"""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tally.core.codes import Code
from tally.http.metrics import Metrics
from tally.http.problems import problem
from tally.ids import new_id

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

log = structlog.get_logger("tally.http")


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER.encode():
            text: str = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(text):
                return text
    return new_id()


def _route(scope: Scope, status: int) -> str:
    """The route's template, so that ids in paths do not become metric labels."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    # Routes of the framework itself (/docs, /openapi.json) have fixed paths.
    return str(scope.get("path")) if "endpoint" in scope and status != 404 else "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 0
        self.metrics.in_flight.inc()
        # Every log line of this request, in any thread it reaches, carries its id.
        structlog.contextvars.bind_contextvars(request_id=request_id)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:  # the last resort: log it, answer 503, never 500
            log.exception("request_failed", request_id=request_id, path=scope.get("path"))
            if status == 0:
                response = problem(Code.UNAVAILABLE, "the ledger could not answer; retry with the same id")
                await response(scope, receive, send_with_id)
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            route = _route(scope, status)
            self.metrics.observe_request(scope["method"], route, status, seconds)
            log.info(
                "request",
                request_id=request_id,
                method=scope["method"],
                path=scope.get("path"),
                route=route,
                status=status,
                duration_ms=round(seconds * 1000, 3),
                key_id=scope["state"].get("key_id"),
            )
            structlog.contextvars.unbind_contextvars("request_id")
