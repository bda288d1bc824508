"""Brain's errors and their one mapping to RFC 9457 problem details."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any, ClassVar

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import Receive, Scope, Send

from brain import observe

log = logging.getLogger("brain.errors")

PROBLEM_JSON = "application/problem+json"


class ConfigError(Exception):
    """The configuration is invalid."""


class BrainError(Exception):
    """Base of the errors a request can end with."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = detail or (self.__doc__ or self.title).strip()
        self.field = field
        self.headers = headers or {}
        super().__init__(self.detail)


class Invalid(BrainError):
    """The request is not valid."""

    status = 422
    title = "Invalid request"


class Malformed(BrainError):
    """The request body is not valid JSON."""

    status = 400
    title = "Malformed request"


class TooLarge(BrainError):
    """The request is larger than a limit allows."""

    status = 413
    title = "Content too large"


class Unauthorized(BrainError):
    """A valid bearer token is required."""

    status = 401
    title = "Unauthorized"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="brain"'})


class Forbidden(BrainError):
    """The credential does not allow this."""

    status = 403
    title = "Forbidden"


class NotFound(BrainError):
    """The resource does not exist."""

    status = 404
    title = "Not found"


class Conflict(BrainError):
    """The request conflicts with the current state."""

    status = 409
    title = "Conflict"


class Unavailable(BrainError):
    """A dependency is unavailable; retry later."""

    status = 503
    title = "Service unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


def problem(
    status: int,
    title: str,
    detail: str,
    instance: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    """Render one problem-details response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors:
        body["errors"] = errors
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _brain_error(request: Request[Any, Any, Any], exc: BrainError) -> Response[dict[str, Any]]:
    errs = [{"field": exc.field, "message": exc.detail}] if exc.field else None
    if exc.status >= 500:
        log.warning("request failed: %s", exc.detail, extra={"path": request.url.path})
    return problem(exc.status, exc.title, exc.detail, request.url.path, errs, exc.headers)


async def answer(exc: BrainError, scope: Scope, receive: Receive, send: Send) -> None:
    """Send `exc`'s problem response from an ASGI middleware (where raising it would leave the
    response to the outermost handler, outside the access log and the metrics)."""
    request: Request[Any, Any, Any] = Request(scope, receive)
    await _brain_error(request, exc).to_asgi_response(app=None, request=request)(
        scope, receive, send
    )


_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_MISSING = re.compile(r"Missing required (?P<where>\w+) parameter '(?P<name>[^']+)'")
_NAMED = re.compile(r"(?:missing required|contains unknown) field `(?P<name>[^`]+)`")


def _field_of(key: str, message: str) -> tuple[str, str]:
    """Name the offending field from Litestar's key and msgspec's message.

    "Expected `int` - at `$.tags[3]`" -> "tags[3]"; "Object missing required field `x`" -> "x".
    `data` (the whole body) is the root, so it is left out of the name.
    """
    root = "" if key == "data" else key
    match = _AT.search(message)
    if match:
        path, message = match.group("path"), message[: match.start()]
        field = f"{root}.{path}" if root and path and not path.startswith("[") else root + path
    else:
        field = root
    named = _NAMED.search(message)
    if named:
        field = f"{field}.{named['name']}" if field else named["name"]
    return field or key, message


def _validation(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    """Litestar's own parsing errors: bad JSON (400) or a field of the wrong shape (422)."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    errs: list[dict[str, str]] = []
    for item in extra:
        if isinstance(item, dict):
            field, message = _field_of(str(item.get("key") or ""), str(item.get("message", "")))
            errs.append({"field": field or "body", "message": message})
    missing = _MISSING.search(str(exc.detail))
    if missing:
        errs.append({"field": missing["name"], "message": f"required {missing['where']} parameter"})
    if not errs:
        detail = str(exc.detail)
        return problem(400, Malformed.title, detail or "Malformed request body", request.url.path)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errs)
    return problem(422, Invalid.title, detail, request.url.path, errs)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Litestar's own errors (unknown route, bad method, undecodable body...)."""
    if not request.scope.get("path_template"):  # no route matched: the middleware never ran
        observe.count_unmatched(request.scope, exc.status_code)
    title = HTTPStatus(exc.status_code).phrase
    return problem(exc.status_code, title, str(exc.detail), request.url.path, headers=exc.headers)


def _not_utf8(request: Request[Any, Any, Any], _: UnicodeDecodeError) -> Response[dict[str, Any]]:
    """msgspec raises UnicodeDecodeError, not a DecodeError, for a JSON body that is not UTF-8."""
    return problem(400, Malformed.title, "Request body is not valid UTF-8", request.url.path)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem(500, "Internal error", "An unexpected error occurred", request.url.path)


HANDLERS = {
    BrainError: _brain_error,
    ValidationException: _validation,
    HTTPException: _http,
    UnicodeDecodeError: _not_utf8,
    Exception: _unexpected,
}
"""Registered once in `create_app`; every error leaves the service as problem details."""
