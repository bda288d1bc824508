"""Small helpers for handlers that answer with JSON rendered elsewhere (PostgreSQL, the cache)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from litestar import MediaType
from litestar.response.base import ASGIResponse

if TYPE_CHECKING:
    from brain.idempotency import Answer

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
