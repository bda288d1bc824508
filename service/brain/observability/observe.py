"""Per request: a request id, the time spent (Server-Timing header, latency histogram with the
trace id as exemplar), the RED counters, and one access-log line."""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Final

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from brain.observability import logs, metrics, tracing

_HTTP: Final = ScopeType.HTTP  # looked up once: an enum member costs an attribute lookup
log = logging.getLogger("brain.access")

REQUEST_ID = b"x-request-id"
_VALID_ID = re.compile(rb"^[A-Za-z0-9._-]{1,128}$")
UNMATCHED = "unmatched"


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID and _VALID_ID.match(value):
            return value.decode()
    return os.urandom(16).hex()


def middleware(app: ASGIApp) -> ASGIApp:
    async def observed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != _HTTP:
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = _request_id(scope)
        token = logs.REQUEST_ID.set(request_id)
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                ms = (time.perf_counter() - start) * 1000
                headers = [
                    *message.get("headers", []),
                    (b"server-timing", b"app;dur=%.3f" % ms),
                    (REQUEST_ID, request_id.encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await app(scope, receive, send_observed)
        finally:
            record(scope, status, time.perf_counter() - start)
            logs.REQUEST_ID.reset(token)

    return observed


def count_unmatched(scope: Scope, status: int) -> None:
    """A request no route matched (404/405 from the router): counted, not timed."""
    method = str(scope.get("method", ""))
    metrics.labelled(metrics.HTTP_REQUESTS, method, UNMATCHED, str(status)).inc()


def record(scope: Scope, status: int, seconds: float) -> None:
    """Count and time one answered request; log it (not the query string: it may carry data)."""
    route = str(scope.get("path_template") or UNMATCHED)
    method = str(scope.get("method", ""))
    metrics.labelled(metrics.HTTP_REQUESTS, method, route, str(status)).inc()
    trace_id = tracing.current_trace_id() if tracing.active() else None
    exemplar = {"trace_id": trace_id} if trace_id else None
    metrics.labelled(metrics.HTTP_DURATION, method, route).observe(seconds, exemplar=exemplar)
    if route.startswith("/health") or route == "/metrics":
        level = logging.DEBUG

    else:
        level = logging.WARNING if status >= 500 else logging.INFO
    log.log(
        level,
        "%s %s %d",
        method,
        route,
        status,
        extra={
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            **_credential(scope),
        },
    )


def _credential(scope: Scope) -> dict[str, str]:
    """The workspace and API key of an authenticated request (kit.auth puts them in the scope's
    state): what operators filter the access log by, where metrics carry no workspace label."""
    state = scope.get("state") or {}
    found = {"workspace": state.get("workspace"), "key_id": state.get("key_id")}
    return {name: value for name, value in found.items() if value}
