"""HTTP helpers: answers with JSON rendered elsewhere (PostgreSQL, the cache), and the parameters
the routes share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final

import msgspec
from litestar import MediaType
from litestar.enums import ScopeType
from litestar.params import HeaderParameter, PathParameter, QueryParameter
from litestar.response.base import ASGIResponse
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)  # fmt: skip

from brain.kit import patterns

if TYPE_CHECKING:
    from brain.kit.idempotency import Answer

_HTTP: Final = ScopeType.HTTP  # looked up once: an enum member costs an attribute lookup
CACHE_HEADER = "X-Brain-Cache"

Raw = ASGIResponse
"""What handlers answering with JSON rendered elsewhere return: an ASGI response as it is sent,
which Litestar passes through (a `Response` is converted into one on every request)."""


def raw_json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Raw:
    return ASGIResponse(body=body, status_code=status, media_type=MediaType.JSON, headers=headers)


def cached(body: bytes, outcome: str) -> Raw:
    """A 200 carrying `X-Brain-Cache: hit|miss|bypass`."""
    return raw_json(body, headers={CACHE_HEADER: outcome})


def items_body(bodies: list[str]) -> bytes:
    """`{"items": [...]}` from rows already rendered as JSON by PostgreSQL."""
    return b'{"items":[' + ",".join(bodies).encode() + b"]}"


def page_body(bodies: list[str], next_cursor: str | None) -> bytes:
    """`{"items": [...], "next_cursor": ...}` from rows already rendered as JSON by PostgreSQL."""
    items = ",".join(bodies).encode()
    return b'{"items":[' + items + b'],"next_cursor":' + msgspec.json.encode(next_cursor) + b"}"


def written(answer: Answer) -> Raw:
    """The answer of a write, with `Idempotent-Replayed: true` when it repeats the first answer
    to a retried Idempotency-Key (G5)."""
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return raw_json(answer.body, answer.status, headers)


# -- parameters shared by the routes: their rules are checked by Litestar and documented ------

ID_RULES: dict[str, Any] = {
    "min_length": 1,
    "max_length": patterns.MAX_ID_CHARS,
    "pattern": patterns.AGENT_ID_PATTERN,
}
"""What an agent id (or a consumer name) is, as a parameter checks and documents it."""
AgentPath = Annotated[
    str, PathParameter(**ID_RULES, description=f"agent id: {patterns.AGENT_ID_RULE}")
]
AgentQuery = Annotated[
    str, QueryParameter(**ID_RULES, description=f"agent id: {patterns.AGENT_ID_RULE}")
]
Consumer = Annotated[
    str,
    QueryParameter(
        **ID_RULES,
        description="consumer name (replicas of one agent share the work): "
        + patterns.AGENT_ID_RULE,
    ),
]
Cursor = Annotated[
    str | None,
    QueryParameter(
        max_length=1024, description="`next_cursor` of the previous page, with the same filters"
    ),
]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\u0020-\u007e]+\Z",
        description="Retry-safe key (G5): 1-255 printable ASCII characters; a retry with the "
        "same key and body answers the first answer again (Idempotent-Replayed: true)",
    ),
]


Time = Annotated[
    str | None,
    QueryParameter(
        format="date-time",
        description="RFC 3339 with a UTC offset (checked strictly: not a number)",
    ),
]
"""A date-time query parameter, parsed by `fields.timestamp` (Litestar would read a number as a
Unix time)."""


def options(app: ASGIApp) -> ASGIApp:
    """Answer OPTIONS for every route, with no credential needed: 204 and an `Allow` listing
    every method of the path (Litestar's own answer lists only those of the path's first
    handler)."""
    allowed: dict[str, bytes] = {}

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != _HTTP or scope["method"] != "OPTIONS":
            await app(scope, receive, send)
            return
        if not allowed:
            for route in scope["app"].routes:
                methods = sorted(getattr(route, "methods", ()))
                allowed[route.path_format] = ", ".join(methods).encode()
        allow = allowed.get(str(scope.get("path_template", "")), b"OPTIONS")
        start: HTTPResponseStartEvent = {
            "type": "http.response.start", "status": 204, "headers": [(b"allow", allow)],
        }  # fmt: skip
        await send(start)
        body: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": b"",
            "more_body": False,
        }
        await send(body)

    return answer
