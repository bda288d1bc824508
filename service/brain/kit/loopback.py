"""Requests to the app itself: an ASGI call of the whole app (its middleware, auth, routes), with
no socket and no HTTP client in between. /mcp's tools and the console act through the API this
way, with their caller's credential, so that scopes, an agent-bound key's limits, rate limits,
validation, idempotency and the cache are the API's own, exactly; each such request is in the
access log and the metrics as what it is (POST /v1/memories...)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import msgspec
from litestar import Litestar

from brain.observability import logs

HOST = b"brain.internal"
"""The `Host` of a request the app makes to itself."""


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """One request to Brain's API."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: Mapping[str, Any] | None = None
    idempotency_key: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body) if self.body else None


def _scope(request: Request, headers: Mapping[str, str]) -> tuple[dict[str, Any], bytes]:
    body = b"" if request.body is None else msgspec.json.encode(request.body)
    raw = [(b"host", HOST)]
    raw += [(name.lower().encode(), value.encode("latin-1")) for name, value in headers.items()]
    if request.idempotency_key is not None:
        raw.append((b"idempotency-key", request.idempotency_key.encode()))
    request_id = logs.REQUEST_ID.get()  # the outer request's: their log lines share it
    if request_id is not None:
        raw.append((b"x-request-id", request_id.encode()))
    if request.body is not None:
        raw += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1", "method": request.method, "scheme": "http",
        "path": request.path, "raw_path": request.path.encode(), "root_path": "",
        "query_string": urllib.parse.urlencode(request.params or {}).encode(),
        "headers": raw, "client": ("127.0.0.1", 0), "server": (HOST.decode(), 80),
        "state": {},
    }  # fmt: skip
    return scope, body


async def send(app: Litestar, request: Request, headers: Mapping[str, str]) -> Answer:
    """The app's whole answer to `request`, sent with `headers` (the caller's credential)."""
    scope, body = _scope(request, headers)
    unread, status = True, 500
    answer_headers: dict[str, str] = {}
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal unread
        if unread:
            unread = False
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the caller stays connected until the answer is sent
        raise AssertionError("unreachable")  # pragma: no cover

    async def respond(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            for name, value in message.get("headers", ()):
                answer_headers[name.decode("latin-1")] = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(cast(Any, scope), cast(Any, receive), cast(Any, respond))
    return Answer(status, answer_headers, b"".join(chunks))


@dataclasses.dataclass(slots=True)
class Streamed:
    """An answer whose body is still arriving (an event stream): `status` and `headers` as the
    app sent them, `chunks` as it sends them."""

    status: int
    headers: Mapping[str, str]
    chunks: AsyncIterator[bytes]


@contextlib.asynccontextmanager
async def stream(
    app: Litestar, request: Request, headers: Mapping[str, str]
) -> AsyncIterator[Streamed]:
    """The app's answer to `request` as it is sent. Leaving the block is the caller going away:
    the app sees `http.disconnect` (its stream ends as for a client that closed the connection),
    and its task is cancelled if it has not ended within a second."""
    scope, body = _scope(request, headers)
    gone = asyncio.Event()
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    unread = True

    async def receive() -> dict[str, Any]:
        nonlocal unread
        if unread:
            unread = False
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def respond(message: dict[str, Any]) -> None:
        if gone.is_set():
            raise OSError("the caller went away")  # as a closed socket: the app stops sending
        await queue.put(message)

    async def call() -> None:
        try:
            await app(cast(Any, scope), cast(Any, receive), cast(Any, respond))
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(call())

    async def chunks() -> AsyncIterator[bytes]:
        while (message := await queue.get()) is not None:
            if message["type"] == "http.response.body":
                if message.get("body"):
                    yield message["body"]
                if not message.get("more_body", False):
                    return

    try:
        first = await queue.get()
        if first is None or first["type"] != "http.response.start":
            await task  # it ended without an answer: its exception, if any
            raise RuntimeError(f"{request.method} {request.path} sent no answer")
        answer_headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in first.get("headers", ())
        }
        yield Streamed(first["status"], answer_headers, chunks())
    finally:
        gone.set()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.shield(task), 1.0)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
