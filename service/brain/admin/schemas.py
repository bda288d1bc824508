"""Request and response bodies of the admin routes."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from brain.kit import fields

CONFIRMATION = "delete all data"


class ClearIn(msgspec.Struct, forbid_unknown_fields=True):
    """The confirmation that every agent, memory and message of the workspace is to go."""

    confirm: Annotated[
        Literal["delete all data"], msgspec.Meta(description=f"must be {CONFIRMATION!r}")
    ]

    example: ClassVar[dict[str, str]] = {"confirm": CONFIRMATION}


class MemoryCounts(msgspec.Struct):
    total: int
    by_agent: Annotated[
        dict[str, int], msgspec.Meta(description=f"the {fields.STATS_TOP_AGENTS} agents with most")
    ]
    by_embedding_space: Annotated[
        dict[str, int],
        msgspec.Meta(
            description="live memories by the embedding space of their vector (`<model>/<dims>`; "
            "`none`: without a vector)"
        ),
    ]
    waiting_for_embedding: Annotated[
        int, msgspec.Meta(description="stored while the model was down, waiting for the backfill")
    ]
    embedding_space: Annotated[
        str | None,
        msgspec.Meta(description="the configured embedding space; null: no vectors taken"),
    ]


class MessageCounts(msgspec.Struct):
    total: int
    unacknowledged: int
    unacknowledged_by_agent: Annotated[
        dict[str, int],
        msgspec.Meta(description=f"the {fields.STATS_TOP_AGENTS} agents with most unacknowledged"),
    ]
    outbox_backlog: Annotated[
        int, msgspec.Meta(description="deliveries committed but not yet on a Redis stream")
    ]


class CacheCounts(msgspec.Struct):
    """Lookups across every service process; null while Redis is unavailable."""

    available: bool
    hits: int | None
    misses: int | None
    hit_rate: float | None


class Stats(msgspec.Struct):
    """Counts of the workspace."""

    agents: int
    memories: MemoryCounts
    messages: MessageCounts
    cache: CacheCounts

    example: ClassVar[dict[str, Any]] = {
        "agents": 3,
        "memories": {
            "total": 1250,
            "by_agent": {"sales": 700, "research": 550},
            "by_embedding_space": {"all-MiniLM-L6-v2/384": 1248, "none": 2},
            "waiting_for_embedding": 0,
            "embedding_space": "all-MiniLM-L6-v2/384",
        },
        "messages": {
            "total": 310,
            "unacknowledged": 4,
            "unacknowledged_by_agent": {"research": 3, "sales": 1},
            "outbox_backlog": 0,
        },
        "cache": {"available": True, "hits": 8812, "misses": 1170, "hit_rate": 0.8828},
    }


class Cleanup(msgspec.Struct):
    """What a cleanup deleted."""

    expired_memories_deleted: int
    messages_trimmed: int
    messages_pruned: int

    example: ClassVar[dict[str, int]] = {
        "expired_memories_deleted": 42,
        "messages_trimmed": 17,
        "messages_pruned": 0,
    }


class AuditEntry(msgspec.Struct):
    """One entry of the audit log."""

    id: int
    at: fields.Timestamp
    action: Annotated[
        str,
        msgspec.Meta(
            description="workspace.created, workspace.deleted, key.created, key.revoked, clear, "
            "cleanup, agent.exported or agent.purged"
        ),
    ]
    key_id: Annotated[
        uuid.UUID | None, msgspec.Meta(description="the key that did it; null: the admin token")
    ]
    request_id: str | None
    target: Annotated[
        str | None, msgspec.Meta(description="the workspace, key or agent it was done to")
    ]
    detail: dict[str, Any]

    example: ClassVar[dict[str, Any]] = {
        "id": 42,
        "at": "2026-12-01T09:00:00+00:00",
        "action": "key.revoked",
        "key_id": None,
        "request_id": "4f1c2a9e8b7d6c5e4f3a2b1c0d9e8f7a",
        "target": "0b6c1d5e-8a4f-4c1e-9f0a-2d3b4c5d6e7f",
        "detail": {},
    }


class AuditPage(msgspec.Struct):
    """Newest first; pass `next_cursor` back as `cursor` for older entries (null: the last)."""

    items: list[AuditEntry]
    next_cursor: str | None

    example: ClassVar[dict[str, Any]] = {"items": [AuditEntry.example], "next_cursor": None}
