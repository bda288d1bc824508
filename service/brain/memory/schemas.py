"""Request and response bodies of the memory routes; msgspec checks requests as it decodes them
(brain.body) and the OpenAPI document describes both with msgspec's own schemas."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from brain.kit import embeddings, fields, patterns

Vector = Annotated[
    list[float],
    msgspec.Meta(
        min_length=1,
        max_length=embeddings.MAX_DIMENSIONS,
        description="Finite numbers, as many as the embedding space's dimension",
    ),
]

SemanticText = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=fields.MAX_TEXT_CHARS,
        pattern=patterns.TEXT_PATTERN,
        description="What to find, matched by meaning (embedded like a memory's text)",
    ),
]


class Dedupe(msgspec.Struct, forbid_unknown_fields=True):
    """Store only if no live memory of the same agent is at least `threshold` similar (cosine
    similarity of their vectors, in this Brain's embedding space: the nearest by the HNSW index,
    itself approximate); otherwise answer 200 with that memory and `duplicate_of`."""

    threshold: Annotated[
        float,
        msgspec.Meta(ge=0.0, le=1.0, description="Cosine similarity, 0..1 (1: the same vector)"),
    ]


class MemoryIn(msgspec.Struct, forbid_unknown_fields=True):
    """A memory to store. `ttl_seconds` and `expires_at` are alternatives; neither = no expiry."""

    agent_id: fields.AgentId
    context: fields.Context
    tags: fields.Tags = []
    importance: fields.Importance = 0.5
    ttl_seconds: fields.TtlSeconds | None = None
    expires_at: (
        Annotated[
            dt.datetime,
            msgspec.Meta(tz=True, description="RFC 3339 with an offset; future, at most 10 years"),
        ]
        | None
    ) = None
    embedding: Vector | None = None
    dedupe: Dedupe | None = None

    exclusive: ClassVar[tuple[tuple[str, str], ...]] = (("ttl_seconds", "expires_at"),)
    example: ClassVar[dict[str, Any]] = {
        "agent_id": "sales",
        "context": {"customer": "Acme", "note": "prefers email, never calls before 10:00"},
        "tags": ["acme", "contact"],
        "importance": 0.8,
        "ttl_seconds": 2592000,
    }


MAX_BATCH = 100
"""Memories per `POST /v1/memories/batch`."""
MAX_BATCH_BYTES = 4 * 1024 * 1024
"""Largest batch body (each item's context still obeys BRAIN_MAX_CONTEXT_BYTES)."""


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    """Memories to store together: all are committed, or none."""

    items: Annotated[list[MemoryIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]

    example: ClassVar[dict[str, Any]] = {
        "items": [
            MemoryIn.example,
            {
                "agent_id": "research",
                "context": {"finding": "Acme renews in March"},
                "tags": ["acme"],
            },
        ]
    }


class QueryIn(msgspec.Struct, forbid_unknown_fields=True):
    """A memory query. No agent filter = across all agents; `agent_id` and `agent_ids` are
    alternatives."""

    agent_id: fields.AgentId | None = None
    agent_ids: fields.AgentIds | None = None
    tags: fields.Tags | None = None
    match: Literal["any", "all"] = "any"
    min_importance: fields.Importance | None = None
    since: fields.Timestamp | None = None
    until: fields.Timestamp | None = None
    text: fields.SearchText | None = None
    semantic: SemanticText | None = None
    vector: Vector | None = None
    min_score: Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)] | None = None
    order: Literal["recent", "importance", "relevance"] | None = None
    limit: fields.PageSize = 20
    cursor: Annotated[str, msgspec.Meta(max_length=1024)] | None = None

    exclusive: ClassVar[tuple[tuple[str, str], ...]] = (
        ("agent_id", "agent_ids"),
        ("semantic", "vector"),
    )
    example: ClassVar[dict[str, Any]] = {"tags": ["acme"], "text": "email", "limit": 20}


class Memory(msgspec.Struct):
    """A stored memory."""

    id: uuid.UUID
    agent_id: str
    context: dict[str, Any]
    tags: list[str]
    importance: float
    created_at: fields.Timestamp
    expires_at: fields.Timestamp | None
    score: (
        Annotated[
            float,
            msgspec.Meta(
                description="Queries by meaning only, higher is better: the cosine similarity "
                "(-1..1) with `semantic` or `vector`; with `text` as well, the reciprocal rank "
                "fusion score (sum of 1 / (60 + rank) over both rankings)"
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET
    duplicate_of: (
        Annotated[
            uuid.UUID,
            msgspec.Meta(
                description="A store with `dedupe` that found a near duplicate (200): its id, "
                "the memory answered instead of a new one"
            ),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET

    example: ClassVar[dict[str, Any]] = {
        "id": "0b6f2c1e-5d7a-4f43-9a8e-2f1d3c4b5a69",
        **{k: v for k, v in MemoryIn.example.items() if k != "ttl_seconds"},
        "created_at": "2026-12-01T09:30:00.123456+00:00",
        "expires_at": "2026-12-31T09:30:00.123456+00:00",
    }


class MemoryList(msgspec.Struct):
    """The memories of a batch, in the order given."""

    items: list[Memory]

    example: ClassVar[dict[str, Any]] = {"items": [Memory.example]}


class MemoryPage(msgspec.Struct):
    """A page of memories; pass `next_cursor` back as `cursor` for the next (null: the last)."""

    items: list[Memory]
    next_cursor: str | None

    example: ClassVar[dict[str, Any]] = {"items": [Memory.example], "next_cursor": None}
