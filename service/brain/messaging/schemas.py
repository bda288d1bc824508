"""Request bodies of the messaging routes."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

from brain import fields

Priority = Literal["low", "normal", "high", "urgent"]
MAX_ACK_IDS = 500


class ShareIn(msgspec.Struct, forbid_unknown_fields=True):
    """A direct message; `ttl_seconds` unset = it never expires (until the retention)."""

    from_agent: fields.AgentId
    to_agent: fields.AgentId
    context: fields.Context
    priority: Priority = "normal"
    ttl_seconds: fields.TtlSeconds | None = None


class BroadcastIn(msgspec.Struct, forbid_unknown_fields=True):
    """A message to every registered agent but the sender."""

    from_agent: fields.AgentId
    context: fields.Context
    priority: Priority = "normal"
    ttl_seconds: fields.TtlSeconds | None = None


class AckIn(msgspec.Struct, forbid_unknown_fields=True):
    ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=MAX_ACK_IDS)]
