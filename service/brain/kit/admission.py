"""Admission control: past capacity, serve what is admitted at normal speed and refuse the rest
at once, instead of letting every request wait in an unbounded queue.

Per process, at most `max_in_flight` requests run at once. One that finds them all taken waits,
first come first served, for at most `max_queue_ms`; one still waiting then, or one that finds
`max_in_flight` others already waiting, is refused before anything of it runs: 503 problem
details with `Retry-After`, its body unread (a refused write did nothing). When a request ends,
its place goes straight to the oldest one waiting.

Not counted, so never refused or starved by the rest: `/health/*` and `/metrics` (a probe must
see the process alive and say why it is busy), event streams and long polls (they hold their
place for up to 30 s while doing nothing; their own limits are Redis's blocking connections),
and requests the app makes to itself (`kit.loopback`: their outer request, /mcp's or the
console's, was admitted, and making it wait for its own inner request could deadlock).
"""

from __future__ import annotations

import asyncio
import collections
import time
import urllib.parse

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from brain.kit import loopback
from brain.observability import metrics, observe

RETRY_AFTER_SECONDS = 1
_EXEMPT_PREFIXES = ("/health/", "/metrics")
_STREAM = "/messages/stream"
_CONSOLE_INBOX = ("/console/", "/inbox")
"""The console's inbox: the API's event stream, as HTML."""


def exempt(scope: Scope) -> bool:
    """Requests that admission control lets through uncounted (the module's docstring)."""
    path: str = scope["path"]
    if path.startswith(_EXEMPT_PREFIXES) or path.endswith(_STREAM):
        return True
    if path.startswith(_CONSOLE_INBOX[0]) and path.endswith(_CONSOLE_INBOX[1]):
        return True
    for name, value in scope["headers"]:
        if name == b"host":
            if value == loopback.HOST:
                return True
            break
    if scope.get("method") == "GET" and path.endswith("/messages") and scope["query_string"]:
        wait = urllib.parse.parse_qs(scope["query_string"].decode("latin-1")).get("wait")
        try:
            return wait is not None and float(wait[0]) > 0
        except ValueError:
            return False  # the route answers its 422
    return False


class Gate:
    """The places of one process: `limit` running at once, as many more waiting, each for at
    most `max_wait` seconds."""

    def __init__(self, limit: int, max_wait: float) -> None:
        self.limit = limit
        self.max_wait = max_wait
        self.running = 0
        self.waiting: collections.deque[asyncio.Future[bool]] = collections.deque()
        metrics.ADMISSION_LIMIT.set(limit)

    async def enter(self) -> str | None:
        """None once admitted (then `leave` when done); else why not: `queue_full`, `waited`."""
        if self.running < self.limit and not self.waiting:
            self.running += 1
            metrics.ADMISSION_ADMITTED.inc()
            return None
        if len(self.waiting) >= self.limit:
            return "queue_full"
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        timer = loop.call_later(self.max_wait, _expire, waiter)
        self.waiting.append(waiter)
        metrics.ADMISSION_QUEUED.inc()
        started = time.perf_counter()
        try:
            admitted = await waiter
        except asyncio.CancelledError:  # the client went away while it waited
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.leave()  # its place had just been handed to it
            raise
        finally:
            timer.cancel()
            metrics.ADMISSION_WAIT.observe(time.perf_counter() - started)
        if not admitted:
            return "waited"
        metrics.ADMISSION_ADMITTED.inc()
        return None

    def leave(self) -> None:
        """A request ended: its place goes to the oldest one still waiting, if any."""
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return
        self.running -= 1

    def sample(self) -> None:
        metrics.ADMISSION_IN_FLIGHT.set(self.running)
        metrics.ADMISSION_WAITING.set(sum(1 for w in self.waiting if not w.done()))


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


def _refusal(gate: Gate, reason: str, path: str) -> bytes:
    detail = (
        f"the service is at capacity ({gate.limit} requests in flight and as many waiting in "
        f"this process); retry after {RETRY_AFTER_SECONDS} s"
        if reason == "queue_full"
        else f"the service is at capacity: this request waited {gate.max_wait * 1000:.0f} ms "
        f"without starting; retry after {RETRY_AFTER_SECONDS} s"
    )
    return msgspec.json.encode({
        "type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": detail,
        "instance": path,
    })  # fmt: skip


def middleware(gate: Gate | None) -> type:
    """The ASGI middleware of `create_app` (inside the access log and metrics, so that a refusal
    is counted as the 503 it is); `gate` None: admission control off."""

    class Admission:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if gate is None or scope["type"] != ScopeType.HTTP or exempt(scope):
                await self.app(scope, receive, send)
                return
            refused = await gate.enter()
            if refused is None:
                try:
                    await self.app(scope, receive, send)
                finally:
                    gate.leave()
                return
            metrics.labelled(metrics.ADMISSION_SHED, refused).inc()
            scope["path_template"] = observe.SHED
            body = _refusal(gate, refused, scope["path"])
            await send({
                "type": "http.response.start", "status": 503,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", b"%d" % len(body)),
                    (b"retry-after", b"%d" % RETRY_AFTER_SECONDS),
                ],
            })  # fmt: skip
            await send({"type": "http.response.body", "body": body, "more_body": False})

    return Admission
