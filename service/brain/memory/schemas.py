"""Request bodies of the memory routes; msgspec checks shapes and limits as it decodes."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from brain import fields


class MemoryIn(msgspec.Struct, forbid_unknown_fields=True):
    """A memory to store. `ttl_seconds` and `expires_at` are alternatives; neither = no expiry."""

    agent_id: fields.AgentId
    context: fields.Context
    tags: fields.Tags = []
    importance: fields.Importance = 0.5
    ttl_seconds: fields.TtlSeconds | None = None
    expires_at: fields.Timestamp | None = None


MAX_BATCH = 100
"""Memories per `POST /v1/memories/batch`."""
MAX_BATCH_BYTES = 4 * 1024 * 1024
"""Largest batch body (each item's context still obeys BRAIN_MAX_CONTEXT_BYTES)."""


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    """Memories to store together: all are committed, or none."""

    items: Annotated[list[MemoryIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class QueryIn(msgspec.Struct, forbid_unknown_fields=True):
    """A memory query. No agent filter = across all agents."""

    agent_id: fields.AgentId | None = None
    agent_ids: fields.AgentIds | None = None
    tags: fields.Tags | None = None
    match: Literal["any", "all"] = "any"
    min_importance: fields.Importance | None = None
    since: fields.Timestamp | None = None
    until: fields.Timestamp | None = None
    text: fields.SearchText | None = None
    order: Literal["recent", "importance"] = "recent"
    limit: fields.PageSize = 20
    cursor: str | None = None
