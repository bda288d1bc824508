"""What a call raises: `APIError` (and a subclass per status) when Brain answered with a problem,
`TransportError` when no answer came (after the retries the call was allowed)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

import msgspec

from brain_client.models import FieldProblem, Problem

__all__ = [
    "APIError",
    "BadRequest",
    "BrainError",
    "Conflict",
    "ContentTooLarge",
    "FieldProblem",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "ServerError",
    "ServiceUnavailable",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
    "UnsupportedMediaType",
    "error_for",
    "retry_after",
]


class BrainError(Exception):
    """Base of every error this client raises."""


class TransportError(BrainError):
    """No answer from Brain: the connection failed, was cut, or timed out (the httpx error is
    the `__cause__`). `maybe_sent`: the request may have reached the service."""

    def __init__(self, message: str, *, maybe_sent: bool, attempts: int) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent
        self.attempts = attempts


class APIError(BrainError):
    """Brain answered with an error: the problem-details body's `status`, `title`, `detail`,
    `type`, `instance` and `errors` (`[FieldProblem(field, message)]`), the response headers,
    and how many attempts the call made."""

    status: int

    def __init__(
        self,
        problem: Problem,
        headers: Mapping[str, str] | None = None,
        *,
        method: str = "",
        url: str = "",
        attempts: int = 1,
    ) -> None:
        self.problem = problem
        self.status = problem.status
        self.title = problem.title
        self.detail = problem.detail
        self.type = problem.type
        self.instance = problem.instance
        self.errors: list[FieldProblem] = (
            [] if isinstance(problem.errors, msgspec.UnsetType) else list(problem.errors)
        )
        self.headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}
        self.method, self.url, self.attempts = method, url, attempts
        fields = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        where = f" ({method} {url})" if method else ""
        super().__init__(
            f"{self.status} {self.title}: {self.detail}{where}" + (f" [{fields}]" if fields else "")
        )

    @property
    def fields(self) -> list[str]:
        """The names of the offending fields (`errors[].field`)."""
        return [e.field for e in self.errors]

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id")

    @property
    def retry_after(self) -> float | None:
        """The `Retry-After` the answer carried, in seconds."""
        return retry_after(self.headers.get("retry-after"))


class BadRequest(APIError):
    """400: the body is not valid JSON (or a key is given twice)."""


class Unauthorized(APIError):
    """401: no token, or a wrong, revoked or expired one."""


class Forbidden(APIError):
    """403: the credential may not do this."""


class NotFound(APIError):
    """404: no such resource (in this workspace)."""


class Conflict(APIError):
    """409: taken, or an Idempotency-Key reused with another body."""


class ContentTooLarge(APIError):
    """413: a body or context beyond its limit."""


class UnsupportedMediaType(APIError):
    """415: the body is not JSON."""


class InvalidRequest(APIError):
    """422: a field breaks a rule; `errors` name them."""


class TooManyRequests(APIError):
    """429: the key's rate limit is spent (retried, honouring Retry-After)."""


class ServerError(APIError):
    """A 5xx other than 503."""


class ServiceUnavailable(ServerError):
    """503: a dependency is down (retried, honouring Retry-After)."""


BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: ContentTooLarge,
    415: UnsupportedMediaType,
    422: InvalidRequest,
    429: TooManyRequests,
    503: ServiceUnavailable,
}


def error_for(status: int) -> type[APIError]:
    return BY_STATUS.get(status) or (ServerError if status >= 500 else APIError)


def retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` value: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
