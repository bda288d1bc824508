"""Brain's errors and their one mapping to RFC 9457 problem details."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any, ClassVar

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap, Receive, Scope, Send

from brain.kit import patterns
from brain.observability import observe

log = logging.getLogger("brain.errors")

PROBLEM_JSON = "application/problem+json"


TITLES = {
    400: "Malformed request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}
"""One title per status, whichever layer answers it (RFC 9457: the title names the kind of
problem, the detail this occurrence)."""


def title(status: int) -> str:
    return TITLES.get(status) or HTTPStatus(status).phrase


class BrainError(Exception):
    """Base of the errors a request can end with."""

    status: ClassVar[int] = 500

    def __init__(
        self,
        detail: str | None = None,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = detail or (self.__doc__ or title(self.status)).strip()
        self.field = field
        self.headers = headers or {}
        super().__init__(self.detail)

    @property
    def title(self) -> str:
        return title(self.status)


class Invalid(BrainError):
    """The request is not valid."""

    status = 422


class Malformed(BrainError):
    """The request body is not valid JSON."""

    status = 400


class TooLarge(BrainError):
    """The request is larger than a limit allows."""

    status = 413


class UnsupportedMediaType(BrainError):
    """The request body is not of a media type this route accepts."""

    status = 415


class Unauthorized(BrainError):
    """A valid bearer token is required."""

    status = 401

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="brain"'})


class Forbidden(BrainError):
    """The credential does not allow this."""

    status = 403


class NotFound(BrainError):
    """The resource does not exist."""

    status = 404


class Conflict(BrainError):
    """The request conflicts with the current state."""

    status = 409


class TooManyRequests(BrainError):
    """The key's rate limit is spent; retry after `Retry-After` seconds."""

    status = 429

    def __init__(self, detail: str, headers: dict[str, str]) -> None:
        super().__init__(detail, headers=headers)


class Unavailable(BrainError):
    """A dependency is unavailable; retry later."""

    status = 503

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
    errs = None
    if exc.field:
        errs = [{"field": exc.field, "message": exc.detail.removeprefix(f"{exc.field}: ")}]
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


# -- msgspec's and Litestar's validation messages, in words, with the field they are about -----

_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_NAMED = re.compile(r"(?:missing required|contains unknown) field `(?P<name>[^`]+)`")
_MISSING = re.compile(r"Missing required (?P<where>\w+) parameter '(?P<name>[^']+)'")
_TYPES = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "array": "an array",
    "object": "an object",
    "null": "null",
    "datetime": "an RFC 3339 date-time with a UTC offset",
    "uuid": "a UUID",
}
_RULES = {repr(pattern)[1:-1]: rule for pattern, rule in patterns.RULES.items()}
"""msgspec quotes a pattern with repr()."""


_EXPLAINED: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r"Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`"), None),
    (
        re.compile(r"Expected `str` matching regex '(?P<pattern>.*)'", re.DOTALL),
        lambda m: f"must be {_RULES.get(m['pattern'], 'in the documented format')}",
    ),
    (
        re.compile(r"Expected `str` of length (?P<op>[<>]=) (?P<n>\d+)"),
        lambda m: f"must be {'at least' if m['op'] == '>=' else 'at most'} {m['n']} characters",
    ),
    (
        re.compile(r"Expected `(?:array|object)` of length (?P<op>[<>]=) (?P<n>\d+)"),
        lambda m: f"must hold {'at least' if m['op'] == '>=' else 'at most'} {m['n']} items",
    ),
    (
        re.compile(r"Expected `(?:int|float)` (?P<op>[<>]=?) (?P<n>[-0-9.e]+)"),
        lambda m: f"must be {m['op']} {m['n']}",
    ),
    (
        re.compile(r"Expected `datetime` with a timezone component"),
        lambda m: "needs a UTC offset (RFC 3339, such as 2030-01-01T00:00:00Z)",
    ),
    (
        re.compile(r"Invalid RFC3339 encoded datetime"),
        lambda m: "must be an RFC 3339 date-time with a UTC offset",
    ),
    (re.compile(r"Invalid UUID"), lambda m: "must be a UUID"),
    (re.compile(r"Invalid enum value (?P<v>.*)"), lambda m: f"{m['v']} is not one of the choices"),
    (re.compile(r"Object missing required field"), lambda m: "is required"),
    (re.compile(r"Object contains unknown field"), lambda m: "is not a field of this request"),
    (
        re.compile(r"(?:Number|Integer value) out of range"),
        lambda m: "is a number beyond what can be stored (about ±1.8e308, 4300 digits)",
    ),
]


def _kind(names: str) -> str:
    return " or ".join(_TYPES.get(n.strip(), f"`{n.strip()}`") for n in names.split("|"))


def explain(message: str, *, from_text: bool = False) -> str:
    """msgspec's message in words. `from_text`: the value came from a query string or a path,
    where every value is text (so "got a string" would say nothing)."""
    for pattern, words in _EXPLAINED:
        match = pattern.search(message)
        if match is None:
            continue
        if words is not None:
            return str(words(match))
        if from_text:
            return f"must be {_kind(match['want'])}"
        return f"expected {_kind(match['want'])}, got {_kind(match['got'])}"
    return message


def _field_of(key: str, message: str) -> tuple[str, str]:
    """The field named by Litestar's key and msgspec's message, and the message without it.

    "Expected `int` - at `$.tags[3]`" -> "tags[3]"; "Object missing required field `x`" -> "x";
    a value inside a context is named by its context ("context[...]" -> "context").
    """
    root = "" if key == "data" else key
    match = _AT.search(message)
    if match:
        path, message = match.group("path").lstrip("."), message[: match.start()]
        path = path.split("[...]", 1)[0]
        field = f"{root}.{path}" if root and path and not path.startswith("[") else root + path
    else:
        field = root
    named = _NAMED.search(message)
    if named:
        field = f"{field}.{named['name']}" if field else named["name"]
    return field or key, message


def invalid_field(message: str, prefix: str = "") -> Invalid:
    """A 422 from msgspec's ValidationError message, naming the field."""
    field, bare = _field_of("", message)
    field = prefix + field if field else prefix.rstrip(".") or "body"
    return Invalid(f"{field}: {explain(bare)}", field=field)


def malformed_json(exc: Exception) -> Malformed:
    """A 400 for a body that is not JSON (or not UTF-8)."""
    if isinstance(exc, UnicodeDecodeError):
        return Malformed("Request body is not valid UTF-8", field="body")
    detail = str(exc)
    if detail == "Input data was truncated":
        detail = "JSON is malformed: the body ends before the JSON does"
    return Malformed(detail, field="body")


def _public_name(request: Request[Any, Any, Any], key: str) -> str:
    """A parameter as the client sends it (`Idempotency-Key`, not `idempotency_key`)."""
    parameter = request.route_handler.parsed_fn_signature.parameters.get(key)
    kwarg = parameter.kwarg_definition if parameter is not None else None
    name = getattr(kwarg, "name", None) or getattr(kwarg, "header", None)
    return str(name or key)


def _validation(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    """Litestar's own checks of path, query and header parameters (bodies go through brain.body),
    and a request that has no body where one is needed."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    errs: list[dict[str, str]] = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        key, message = str(item.get("key") or ""), str(item.get("message", ""))
        if key == "data" and item.get("source") == "body":  # brain.body never saw an empty body
            empty = "the request body is empty; this route needs a JSON object"
            return _brain_error(request, Malformed(empty, field="body"))
        field, bare = _field_of(_public_name(request, key), message)
        errs.append({"field": field or "body", "message": explain(bare, from_text=True)})
    missing = _MISSING.search(str(exc.detail))
    if missing:
        errs.append({"field": missing["name"], "message": f"required {missing['where']} parameter"})
    if not errs:
        return problem(400, title(400), str(exc.detail) or "Malformed request", request.url.path)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errs)
    return problem(422, title(422), detail, request.url.path, errs)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    """Litestar's own errors (unknown route, bad method, a body over the size limit...)."""
    if not request.scope.get("path_template"):  # no route matched: the middleware never ran
        observe.count_unmatched(request.scope, exc.status_code)
    status = exc.status_code
    detail = str(exc.detail)
    errs = [{"field": "body", "message": detail}] if status in (400, 413) else None  # the body's
    if status == 405:
        detail = f"{request.method} is not allowed here; see the Allow header"
    return problem(status, title(status), detail, request.url.path, errs, exc.headers)


def _not_utf8(request: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[dict[str, Any]]:
    """msgspec raises UnicodeDecodeError, not a DecodeError, for a JSON body that is not UTF-8."""
    return _brain_error(request, malformed_json(exc))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem(500, title(500), "An unexpected error occurred", request.url.path)


HANDLERS: ExceptionHandlersMap = {
    BrainError: _brain_error,
    ValidationException: _validation,
    HTTPException: _http,
    UnicodeDecodeError: _not_utf8,
    Exception: _unexpected,
}
"""Registered once in `create_app`; every error leaves the service as problem details."""
