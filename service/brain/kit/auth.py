"""Bearer-token authentication for /v1 (the admin token; agent-scoped keys come later).

A plain ASGI middleware on the /v1 router rather than a Litestar guard: a guard costs a copy of
the route handler on every request, and this check runs on every request."""

from __future__ import annotations

import hmac
from typing import Any

from litestar.di import NamedDependency
from litestar.types import ASGIApp, Receive, Scope, Send

from brain.kit import errors
from brain.settings import Settings

_AUTHORIZATION = b"authorization"


def _token(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == _AUTHORIZATION:
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return token.strip()
            break
    raise errors.Unauthorized("Authorization: Bearer <token> is required")


def middleware(settings: Settings) -> Any:
    """Admit a request carrying `Authorization: Bearer <admin token>`; remember its workspace."""
    expected = (settings.admin_token or "").encode()

    def factory(app: ASGIApp) -> ASGIApp:
        async def authenticated(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                token = _token(scope)
                if not token:
                    raise errors.Unauthorized("Authorization: Bearer <token> is required")
                if not expected or not hmac.compare_digest(token, expected):
                    raise errors.Unauthorized("the bearer token is not valid")
            except errors.Unauthorized as exc:
                await errors.answer(exc, scope, receive, send)  # logged and counted as a 401
                return
            scope.setdefault("state", {})["workspace"] = settings.workspace
            await app(scope, receive, send)

        return authenticated

    return factory


Workspace = NamedDependency[str]
"""Handler parameter `workspace: auth.Workspace`."""


def workspace(scope: Scope) -> str:
    """Dependency: the workspace the request's credential acts in (set by the middleware)."""
    return str(scope["state"]["workspace"])
