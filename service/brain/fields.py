"""Field types and limits shared by the request schemas (SPEC.md: name every limit)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

import msgspec

from brain import errors

AGENT_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
MAX_TAGS = 32
MAX_TAG_CHARS = 64
MAX_PAGE = 500
MAX_TTL_SECONDS = 10 * 365 * 24 * 3600
MAX_TEXT_CHARS = 1000
MAX_AGENT_FILTER = 100

AgentId = Annotated[
    str, msgspec.Meta(pattern=AGENT_ID_PATTERN, description="1-64 chars of [A-Za-z0-9_.-]")
]
AgentIds = Annotated[list[AgentId], msgspec.Meta(min_length=1, max_length=MAX_AGENT_FILTER)]
SearchText = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT_CHARS)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TAG_CHARS)]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=MAX_TAGS)]
Importance = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
TtlSeconds = Annotated[int, msgspec.Meta(ge=1, le=MAX_TTL_SECONDS)]
PageSize = Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)]
Timestamp = Annotated[dt.datetime, msgspec.Meta(tz=True, description="RFC 3339 with a UTC offset")]
Context = dict[str, Any]

_AGENT_ID = re.compile(AGENT_ID_PATTERN)


def agent_id(value: str, field: str = "agent_id") -> str:
    """Check an agent id taken from a path or query string."""
    if not _AGENT_ID.match(value):
        raise errors.Invalid(f"{field} must be 1-64 characters of [A-Za-z0-9_.-]", field=field)
    return value


def context_size(context: Context, limit: int, field: str = "context") -> bytes:
    """The context as compact JSON; 413 naming the field when it exceeds `limit` bytes."""
    encoded = msgspec.json.encode(context)
    if len(encoded) > limit:
        raise errors.TooLarge(
            f"{field} is {len(encoded)} bytes as compact JSON; the limit is {limit}", field=field
        )
    return encoded


def page_size(raw: int | None, default: int) -> int:
    """Check a `limit` query parameter."""
    if raw is None:
        return default
    if not 1 <= raw <= MAX_PAGE:
        raise errors.Invalid(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    return raw


def unique(values: list[str]) -> list[str]:
    """Drop repeated values, keeping the first occurrence's order."""
    return list(dict.fromkeys(values))
