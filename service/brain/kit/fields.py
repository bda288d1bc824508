"""Field types and limits shared by the request schemas (every limit has a name here)."""

from __future__ import annotations

import datetime as dt
import decimal
import re
import unicodedata
from typing import Annotated, Any

import msgspec

from brain.kit import errors, patterns

MAX_ID_CHARS = patterns.MAX_ID_CHARS
MAX_TAGS = 32
MAX_TAG_CHARS = 64
MAX_LABEL_CHARS = 200
MAX_CAPABILITIES = 64
MAX_PAGE = 500
MAX_TTL_SECONDS = 10 * 365 * 24 * 3600
MAX_TEXT_CHARS = 1000
MAX_AGENT_FILTER = 100
STATS_TOP_AGENTS = 1000
MAX_PENDING = 100
"""Messages per take (GET /v1/agents/{id}/messages, the MCP tool inbox)."""
MAX_WAIT_SECONDS = 30
"""Longest long poll of a take."""
MAX_ACK_IDS = 500
"""Ids per acknowledgement."""
"""`/v1/stats` counts memories per agent for this many agents (those with most)."""


AgentId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_ID_CHARS,
        pattern=patterns.AGENT_ID_PATTERN,
        description=patterns.AGENT_ID_RULE,
    ),
]
AgentIds = Annotated[list[AgentId], msgspec.Meta(min_length=1, max_length=MAX_AGENT_FILTER)]
SearchText = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        pattern=patterns.TEXT_PATTERN,
        description='PostgreSQL web-search syntax (English stemming): words, "a phrase", -not',
    ),
]
Tag = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_TAG_CHARS,
        pattern=patterns.TAG_PATTERN,
        description="stored in Unicode NFC; no control or format characters",
    ),
]
Tags = Annotated[
    list[Tag],
    msgspec.Meta(
        max_length=MAX_TAGS, description=f"at most {MAX_TAGS} as sent; repeats are kept once"
    ),
]
Label = Annotated[str, msgspec.Meta(max_length=MAX_LABEL_CHARS, pattern=patterns.LABEL_PATTERN)]
Importance = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
TtlSeconds = Annotated[
    int, msgspec.Meta(ge=1, le=MAX_TTL_SECONDS, description="1 second to 10 years")
]
PageSize = Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)]
Timestamp = Annotated[dt.datetime, msgspec.Meta(tz=True, description="RFC 3339 with a UTC offset")]
Context = Annotated[
    dict[str, Any],
    msgspec.Meta(description="any JSON object, within BRAIN_MAX_CONTEXT_BYTES as stored"),
]

_AGENT_ID = re.compile(patterns.AGENT_ID_PATTERN)


def agent_id(value: str, field: str = "agent_id") -> str:
    """Check an agent id taken from a path or query string."""
    if not _AGENT_ID.match(value) or len(value) > MAX_ID_CHARS:
        raise errors.Invalid(f"{field} must be {patterns.AGENT_ID_RULE}", field=field)
    return value


def tags(values: list[str], field: str = "tags") -> list[str]:
    """Tags as stored: in Unicode NFC, each once, in the order first given (their shape was
    checked as they were decoded: `Tag`)."""
    normal = []
    for n, value in enumerate(values):
        tag = unicodedata.normalize("NFC", value)
        if len(tag) > MAX_TAG_CHARS:  # NFC composes, but a few characters it decomposes
            raise errors.Invalid(
                f"{field}[{n}] is longer than {MAX_TAG_CHARS} characters in Unicode NFC",
                field=f"{field}[{n}]",
            )
        normal.append(tag)
    return unique(normal)


def label(value: str | None, field: str) -> str | None:
    """A name or role as stored: in Unicode NFC."""
    if value is None:
        return None
    normal = unicodedata.normalize("NFC", value)
    if len(normal) > MAX_LABEL_CHARS:
        raise errors.Invalid(
            f"{field} is longer than {MAX_LABEL_CHARS} characters in Unicode NFC", field=field
        )
    return normal


def expiry(value: dt.datetime, field: str) -> dt.datetime:
    """An `expires_at`: in the future and at most MAX_TTL_SECONDS away, like `ttl_seconds` (so it
    is always a time that PostgreSQL and every client can represent: a 4-digit year in UTC)."""
    now = dt.datetime.now(dt.UTC)
    if value <= now:
        raise errors.Invalid(f"{field} must be in the future", field=field)
    if value - now > dt.timedelta(seconds=MAX_TTL_SECONDS):
        raise errors.Invalid(f"{field} must be at most 10 years from now", field=field)
    return value


def timestamp(raw: str | None, field: str) -> dt.datetime | None:
    """A time from a query string: RFC 3339 with a UTC offset, nothing else (no numbers)."""
    if raw is None:
        return None
    try:
        return msgspec.convert(raw, Timestamp, strict=True)
    except msgspec.ValidationError:
        raise errors.Invalid(
            f"{field} must be an RFC 3339 date-time with a UTC offset", field=field
        ) from None


def context_size(context: dict[str, Any], limit: int, field: str = "context") -> bytes:
    """The context as compact JSON; 413 naming the field when it takes more than `limit` bytes
    as PostgreSQL stores and serves it, 422 when a key or string in it holds U+0000."""
    encoded = msgspec.json.encode(context)
    size = stored_size(encoded, context)
    if size > limit:
        raise errors.TooLarge(
            f"{field} takes {size} bytes as stored; the limit is {limit}", field=field
        )
    if _holds_nul(encoded):
        raise errors.Invalid(
            f"{field} must not contain U+0000 (NUL) in keys or strings", field=field
        )
    return encoded


_EXPONENT = re.compile(rb"[0-9][eE]")


def stored_size(encoded: bytes, value: Any) -> int:
    """Bytes of JSON as PostgreSQL writes a jsonb value out: a space after each `:` and `,` (what
    msgspec's `format(indent=0)` writes too), and numbers in full (1e308 is 309 digits)."""
    size = len(msgspec.json.format(encoded, indent=0))
    if _EXPONENT.search(encoded):  # fast path: no number with an exponent anywhere
        size += _number_growth(value)
    return size


def _number_growth(value: Any) -> int:
    """How many bytes PostgreSQL's plain notation adds to the exponent notation of numbers."""
    if isinstance(value, float):
        written = msgspec.json.encode(value).decode()
        return len(format(decimal.Decimal(written), "f")) - len(written)
    if isinstance(value, dict):
        return sum(_number_growth(v) for v in value.values())
    if isinstance(value, list):
        return sum(_number_growth(v) for v in value)
    return 0


def _holds_nul(encoded: bytes) -> bool:
    """Whether JSON holds the escape \\u0000 (not an escaped backslash followed by "u0000")."""
    at = encoded.find(b"\\u0000")
    while at != -1:
        backslashes = at - len(encoded[:at].rstrip(b"\\"))  # just before this one
        if backslashes % 2 == 0:
            return True
        at = encoded.find(b"\\u0000", at + 1)
    return False


def unique(values: list[str]) -> list[str]:
    """Drop repeated values, keeping the first occurrence's order."""
    return list(dict.fromkeys(values))
