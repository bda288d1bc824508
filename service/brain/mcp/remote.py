"""`brain mcp`: the MCP server over stdio, for desktop clients that start their servers as
commands. Its tools are /mcp's; each call is a request to a Brain over real HTTP, with one token
(an agent's API key, or the admin token with a workspace)."""

from __future__ import annotations

from typing import Any

import httpx
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server

from brain.kit import auth, loopback
from brain.mcp import tools

CONNECT_SECONDS = 10.0
READ_SECONDS = tools.MAX_WAIT_SECONDS + 30.0
"""Longer than the longest long poll of `inbox`."""


class Remote:
    """A Brain at `url`, called with `token` (in `workspace`: the admin token's choice), through
    one HTTP client that keeps its connections alive."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        workspace: str | None = None,
        agent_id: str | None = None,
        version: str = "",
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"authorization": f"Bearer {token}"}
        if workspace:
            headers[auth.WORKSPACE_HEADER.lower()] = workspace
        self.as_caller = tools.Caller(headers, agent_id)
        """`agent_id`: the agent the tools act as when an argument leaves it out."""
        self.http = httpx.AsyncClient(
            base_url=self.url,
            timeout=httpx.Timeout(CONNECT_SECONDS, read=READ_SECONDS),
            headers={"user-agent": f"brain-mcp/{version}"},
        )

    def caller(self, ctx: ServerRequestContext[Any, Any]) -> tools.Caller:
        return self.as_caller

    async def send(self, caller: tools.Caller, request: loopback.Request) -> loopback.Answer:
        headers = dict(caller.headers)
        if request.idempotency_key is not None:
            headers["idempotency-key"] = request.idempotency_key
        try:
            response = await self.http.request(
                request.method, request.path, params=request.params, json=request.body,
                headers=headers,
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise tools.Unreachable(
                f"Brain at {self.url} did not answer ({type(exc).__name__}: {exc})"
            ) from exc
        return loopback.Answer(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        await self.http.aclose()


async def serve(remote: Remote, version: str) -> None:
    """Serve MCP on stdin and stdout until the client closes them."""
    server = tools.server(remote, version)
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await remote.aclose()
