"""Bearer-token authentication for /v1 (the admin token; agent-scoped keys come later)."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler

from brain import errors


async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Admit a request carrying `Authorization: Bearer <admin token>`; remember its workspace."""
    settings = connection.app.state.settings
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise errors.Unauthorized("Authorization: Bearer <token> is required")
    expected = settings.admin_token
    if expected is None or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise errors.Unauthorized("the bearer token is not valid")
    connection.state.workspace = settings.workspace


Workspace = NamedDependency[str]
"""Handler parameter `workspace: auth.Workspace`."""


def workspace(request: Request[Any, Any, Any]) -> str:
    """Dependency: the workspace the request's credential acts in (set by `guard`)."""
    return str(request.state.workspace)
