"""Request and response bodies of the messaging routes."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from brain.kit import fields

Priority = Literal["low", "normal", "high", "urgent"]
MAX_ACK_IDS = fields.MAX_ACK_IDS


class ShareIn(msgspec.Struct, forbid_unknown_fields=True):
    """A direct message; `ttl_seconds` unset = it never expires (until the retention)."""

    from_agent: fields.AgentId
    to_agent: fields.AgentId
    context: fields.Context
    priority: Priority = "normal"
    ttl_seconds: fields.TtlSeconds | None = None

    example: ClassVar[dict[str, Any]] = {
        "from_agent": "sales",
        "to_agent": "support",
        "context": {"ticket": 4521, "summary": "Acme cannot log in since the update"},
        "priority": "high",
    }


class BroadcastIn(msgspec.Struct, forbid_unknown_fields=True):
    """A message to every registered agent but the sender."""

    from_agent: fields.AgentId
    context: fields.Context
    priority: Priority = "normal"
    ttl_seconds: fields.TtlSeconds | None = None

    example: ClassVar[dict[str, Any]] = {
        "from_agent": "research",
        "context": {"finding": "the new pricing starts in January"},
        "ttl_seconds": 86400,
    }


MESSAGE_ID = "5f0c9e7a-3b1d-4c2e-8f6a-1d2b3c4e5f60"


class AckIn(msgspec.Struct, forbid_unknown_fields=True):
    """Messages the agent is done with."""

    ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=MAX_ACK_IDS)]

    example: ClassVar[dict[str, Any]] = {"ids": [MESSAGE_ID]}


class Message(msgspec.Struct):
    """A message; `to_agent` is null for a broadcast."""

    id: uuid.UUID
    from_agent: str
    to_agent: str | None
    context: dict[str, Any]
    priority: Priority
    created_at: fields.Timestamp
    expires_at: fields.Timestamp | None

    example: ClassVar[dict[str, Any]] = {
        "id": MESSAGE_ID,
        **ShareIn.example,
        "created_at": "2026-12-01T09:30:00.123456+00:00",
        "expires_at": None,
    }


class TakenMessage(Message):
    """A message taken from an inbox: `delivery_count` is 1 the first time, more on redelivery."""

    delivery_count: int

    example: ClassVar[dict[str, Any]] = {**Message.example, "delivery_count": 1}


class ReplayedMessage(Message):
    """A message addressed to the agent, with when it acknowledged it (null: not yet)."""

    acked_at: fields.Timestamp | None

    example: ClassVar[dict[str, Any]] = {
        **Message.example,
        "acked_at": "2026-12-01T09:31:02.5+00:00",
    }


class Inbox(msgspec.Struct):
    """Messages taken; ack them once done, or they are delivered again after the lease."""

    items: list[TakenMessage]

    example: ClassVar[dict[str, Any]] = {"items": [TakenMessage.example]}


class Acked(msgspec.Struct):
    """How many of the ids are addressed to the agent (acknowledged now or before)."""

    acked: int

    example: ClassVar[dict[str, Any]] = {"acked": 1}


class MessagePage(msgspec.Struct):
    """A page of messages; pass `next_cursor` back as `cursor` for the next (null: the last)."""

    items: list[Message]
    next_cursor: str | None

    example: ClassVar[dict[str, Any]] = {"items": [Message.example], "next_cursor": None}


class ReplayPage(msgspec.Struct):
    """A page of replayed messages; pass `next_cursor` back as `cursor` (null: the last)."""

    items: list[ReplayedMessage]
    next_cursor: str | None

    example: ClassVar[dict[str, Any]] = {"items": [ReplayedMessage.example], "next_cursor": None}
