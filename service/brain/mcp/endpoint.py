"""`/mcp`: the MCP server on the service itself (Streamable HTTP), behind the API's credentials.

- **Stateless, JSON responses.** Every POST is a whole exchange: the SDK's session manager in
  stateless mode serves it on a transport of its own and answers one JSON body, with no
  `Mcp-Session-Id`. A session kept in one process's memory would break on the next request that
  reaches another worker (`SO_REUSEPORT`) or replica, and the service keeps no state between
  requests; the tools need nothing a session gives (no server-to-client requests, no
  notifications). GET (a stream for server-initiated messages) and DELETE (ending a session) are
  405. Both protocol eras are served: the initialize handshake (2025-11-25 and before) and the
  2026-07-28 per-request envelope.
- **Authentication first.** The admin token (with `X-Brain-Workspace`) or a workspace's API key,
  checked by `kit.auth` before the SDK sees the request: no credential, or a wrong, revoked or
  expired one, is a 401 like /v1's (`refuse`), and no MCP exchange starts.
- **Tools call the API in-process** (an ASGI call of this same app, `InProcess`), with the
  caller's `Authorization` and `X-Brain-Workspace`: scopes, an agent-bound key's limits, rate
  limits, validation, idempotency and the cache are the API's own, exactly. Each such request
  is in the access log and the metrics as what it is (POST /v1/memories...), beside the POST
  /mcp that carried it. The key's rate limit is taken by those requests, not by POST /mcp.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import ASGIRouteHandler, asgi
from litestar.types import Receive, Scope, Send
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.types import INVALID_REQUEST

from brain.kit import auth, errors, loopback
from brain.mcp import tools

PATH = "/mcp"
_FORWARDED = (b"authorization", auth.WORKSPACE_HEADER.lower().encode())
"""The caller's headers every tool call's API request carries."""


class MethodNotAllowed(errors.BrainError):
    """Only POST is served here (stateless: no stream to GET, no session to DELETE)."""

    status = 405


async def principal(checker: auth.Authenticator, scope: Scope) -> auth.Principal:
    """The credential of a request to /mcp: the admin token, or a key with any scope (each tool's
    API request then needs its own). 401 or 404 as on /v1 otherwise."""
    return await checker.identify(scope)


async def refuse(exc: errors.BrainError, send: Send) -> None:
    """The answer to a request refused before MCP: the status and headers /v1 would answer
    (401 with `WWW-Authenticate`, 403, 404, 405 with `Allow`, 503 with `Retry-After`), its body a
    JSON-RPC error, as the SDK answers what it refuses itself: an MCP client shows its message
    ("401: the bearer token is not valid") where a problem-details body would be an anonymous
    "error response" to it; `error.data` is the problem details."""
    problem: dict[str, Any] = {
        "type": "about:blank", "title": exc.title, "status": exc.status, "detail": exc.detail,
        "instance": PATH,
    }  # fmt: skip
    if exc.field:
        problem["errors"] = [
            {"field": exc.field, "message": exc.detail.removeprefix(f"{exc.field}: ")}
        ]
    body = msgspec.json.encode(
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {
                "code": INVALID_REQUEST,
                "message": tools.error_message(exc),
                "data": problem,
            },
        }
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    headers += [(name.lower().encode(), value.encode()) for name, value in exc.headers.items()]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class InProcess:
    """Tool calls as requests to this app itself (`kit.loopback`), with the caller's
    credential."""

    def __init__(self) -> None:
        self.app: Litestar | None = None

    def caller(self, ctx: ServerRequestContext[Any, Any]) -> tools.Caller:
        request = ctx.request  # the Starlette request of the POST that carried the call
        scope = getattr(request, "scope", None)
        if not isinstance(scope, dict):
            raise RuntimeError("a tool call reached /mcp without its HTTP request")
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _FORWARDED
        }
        found: auth.Principal = scope["state"]["principal"]
        return tools.Caller(headers, found.agent_id)

    async def send(self, caller: tools.Caller, request: loopback.Request) -> loopback.Answer:
        app = self.app
        if app is None:
            raise errors.Unavailable("the MCP endpoint is not running")
        return await loopback.send(app, request, caller.headers)


class Endpoint:
    """The /mcp route and the lifespan that runs the SDK's session manager and the in-process
    client while the app runs (`create_app` wires both)."""

    def __init__(self, version: str, max_body: int) -> None:
        self.backend = InProcess()
        self.server = tools.server(self.backend, version)
        self.max_body = max_body
        self.manager: StreamableHTTPSessionManager | None = None
        # copy_scope=False: the route's name goes in the request's own scope (for the access log
        # and the metrics: Litestar gives a mount no path template).
        self.route: ASGIRouteHandler = asgi(PATH, is_mount=True, copy_scope=False)(self._handle())

    def _handle(self) -> Callable[[Scope, Receive, Send], Any]:
        async def mcp_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
            scope["path_template"] = PATH
            try:
                checker: auth.Authenticator = scope["app"].state.auth
                found = await principal(checker, scope)
                if scope.get("method") != "POST":
                    raise MethodNotAllowed(
                        f"{scope.get('method')} is not served here: send each MCP message as a "
                        "POST (stateless Streamable HTTP)",
                        headers={"Allow": "POST"},
                    )
                if self.manager is None:
                    raise errors.Unavailable("the MCP endpoint is not running")
            except errors.BrainError as exc:
                await refuse(exc, send)
                return
            state = scope.setdefault("state", {})
            state["principal"] = found
            state["workspace"] = found.workspace  # for the access log, as kit.auth does
            state["key_id"] = str(found.key_id) if found.key_id else None
            # Starlette's ASGI types (the SDK's) are Litestar's, spelt as plain mappings.
            await self.manager.handle_request(scope, receive, send)  # type: ignore[arg-type]

        return mcp_endpoint

    def lifespan(self, app: Litestar) -> contextlib.AbstractAsyncContextManager[None]:
        @contextlib.asynccontextmanager
        async def running() -> AsyncIterator[None]:
            # A manager runs once: a new one each time the app starts. Its transport logs each
            # stateless request at INFO ("Terminating session: None"): quieter unless debugging.
            chatty = logging.getLogger("mcp.server.streamable_http")
            if not chatty.isEnabledFor(logging.DEBUG):
                chatty.setLevel(logging.WARNING)
            manager = StreamableHTTPSessionManager(
                self.server, json_response=True, stateless=True,
                max_request_body_size=self.max_body,
            )  # fmt: skip
            async with manager.run():
                self.backend.app, self.manager = app, manager
                try:
                    yield
                finally:
                    self.backend.app = self.manager = None

        return running()
