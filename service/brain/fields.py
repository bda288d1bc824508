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
NO_NUL = r"^[^\x00]*$"
"""Strings are stored in PostgreSQL, whose text and jsonb cannot hold U+0000."""
AgentIds = Annotated[list[AgentId], msgspec.Meta(min_length=1, max_length=MAX_AGENT_FILTER)]
SearchText = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT_CHARS, pattern=NO_NUL)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TAG_CHARS, pattern=NO_NUL)]
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
    """The context as compact JSON; 413 naming the field when it exceeds `limit` bytes, 422 when
    a key or string in it holds U+0000 (PostgreSQL's jsonb cannot)."""
    encoded = msgspec.json.encode(context)
    if len(encoded) > limit:
        raise errors.TooLarge(
            f"{field} is {len(encoded)} bytes as compact JSON; the limit is {limit}", field=field
        )
    if _holds_nul(encoded):
        raise errors.Invalid(
            f"{field} must not contain U+0000 (NUL) in keys or strings", field=field
        )
    return encoded


def _holds_nul(encoded: bytes) -> bool:
    """Whether JSON holds the escape \\u0000 (not an escaped backslash followed by "u0000")."""
    at = encoded.find(b"\\u0000")
    while at != -1:
        backslashes = at - len(encoded[:at].rstrip(b"\\"))  # just before this one
        if backslashes % 2 == 0:
            return True
        at = encoded.find(b"\\u0000", at + 1)
    return False


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
