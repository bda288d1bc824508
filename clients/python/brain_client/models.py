"""The typed bodies of Brain's API: what the client sends and what it answers.

Each response Struct has exactly the properties of its schema in the service's OpenAPI document
(`tests/client/test_drift.py` fails otherwise); fields a newer service adds are ignored when
decoding, so an older client keeps working. Request Structs leave unset fields out of the body
(`msgspec.UNSET`): the service then applies its defaults.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

Priority = Literal["low", "normal", "high", "urgent"]
Match = Literal["any", "all"]
Order = Literal["recent", "importance", "relevance"]
Scope = Literal[
    "memories:read", "memories:write", "messages:read", "messages:write", "agents:read",
    "agents:write", "admin",
]  # fmt: skip

__all__ = [
    "UNSET",
    "AckIn",
    "Acked",
    "Agent",
    "AgentIn",
    "AgentPage",
    "AuditEntry",
    "AuditPage",
    "BatchIn",
    "BroadcastIn",
    "CacheCounts",
    "Cleanup",
    "ClearIn",
    "Dedupe",
    "ExportRecord",
    "FieldProblem",
    "Inbox",
    "InboxStats",
    "Key",
    "KeyIn",
    "KeyList",
    "Live",
    "Match",
    "Memory",
    "MemoryCounts",
    "MemoryIn",
    "MemoryList",
    "MemoryPage",
    "Message",
    "MessageCounts",
    "MessagePage",
    "NewKey",
    "Order",
    "Priority",
    "Problem",
    "QueryIn",
    "RateLimit",
    "Ready",
    "ReplayPage",
    "ReplayedMessage",
    "Scope",
    "ShareIn",
    "Stats",
    "TakenMessage",
    "UnsetType",
    "Workspace",
    "WorkspaceIn",
    "WorkspacePage",
]


# -- agents ---------------------------------------------------------------------------------------


class AgentIn(msgspec.Struct, kw_only=True):
    """A registration (`PUT /v1/agents/{id}` replaces it as a whole)."""

    name: str | UnsetType | None = UNSET
    role: str | UnsetType | None = UNSET
    capabilities: list[str] | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET


class Agent(msgspec.Struct, frozen=True):
    """A registered agent."""

    id: str
    name: str | None
    role: str | None
    capabilities: list[str]
    metadata: dict[str, Any]
    registered_at: dt.datetime
    last_seen_at: dt.datetime


class AgentPage(msgspec.Struct, frozen=True):
    """Agents by id; `next_cursor` None: the last page."""

    items: list[Agent]
    next_cursor: str | None


class ExportRecord(msgspec.Struct, frozen=True):
    """One line of an agent's export: `type` "agent", "memory" or "message", and its `data`."""

    type: str
    data: dict[str, Any]


# -- memories -------------------------------------------------------------------------------------


class Dedupe(msgspec.Struct, kw_only=True):
    """Store only if no live memory of the agent is at least `threshold` similar."""

    threshold: float


class MemoryIn(msgspec.Struct, kw_only=True):
    """A memory to store (one, or an item of a batch)."""

    agent_id: str
    context: dict[str, Any]
    tags: list[str] | UnsetType = UNSET
    importance: float | UnsetType = UNSET
    ttl_seconds: int | UnsetType = UNSET
    expires_at: dt.datetime | UnsetType = UNSET
    embedding: list[float] | UnsetType = UNSET
    dedupe: Dedupe | UnsetType = UNSET


class BatchIn(msgspec.Struct, kw_only=True):
    items: list[MemoryIn]


class QueryIn(msgspec.Struct, kw_only=True):
    """A memory query: every filter of `POST /v1/memories/query`."""

    agent_id: str | UnsetType = UNSET
    agent_ids: list[str] | UnsetType = UNSET
    tags: list[str] | UnsetType = UNSET
    match: Match | UnsetType = UNSET
    min_importance: float | UnsetType = UNSET
    since: dt.datetime | UnsetType = UNSET
    until: dt.datetime | UnsetType = UNSET
    text: str | UnsetType = UNSET
    semantic: str | UnsetType = UNSET
    vector: list[float] | UnsetType = UNSET
    min_score: float | UnsetType = UNSET
    order: Order | UnsetType = UNSET
    limit: int | UnsetType = UNSET
    cursor: str | UnsetType = UNSET


class Memory(msgspec.Struct, frozen=True):
    """A stored memory; `score` only from queries by meaning, `duplicate_of` only from a store
    with `dedupe` that found a near duplicate (then nothing was stored)."""

    id: uuid.UUID
    agent_id: str
    context: dict[str, Any]
    tags: list[str]
    importance: float
    created_at: dt.datetime
    expires_at: dt.datetime | None
    score: float | UnsetType = UNSET
    duplicate_of: uuid.UUID | UnsetType = UNSET


class MemoryList(msgspec.Struct, frozen=True):
    items: list[Memory]


class MemoryPage(msgspec.Struct, frozen=True):
    items: list[Memory]
    next_cursor: str | None


# -- messages -------------------------------------------------------------------------------------


class ShareIn(msgspec.Struct, kw_only=True):
    from_agent: str
    to_agent: str
    context: dict[str, Any]
    priority: Priority | UnsetType = UNSET
    ttl_seconds: int | UnsetType = UNSET


class BroadcastIn(msgspec.Struct, kw_only=True):
    from_agent: str
    context: dict[str, Any]
    priority: Priority | UnsetType = UNSET
    ttl_seconds: int | UnsetType = UNSET


class AckIn(msgspec.Struct, kw_only=True):
    ids: list[uuid.UUID]


class Message(msgspec.Struct, frozen=True):
    """A message; `to_agent` None for a broadcast."""

    id: uuid.UUID
    from_agent: str
    to_agent: str | None
    context: dict[str, Any]
    priority: Priority
    created_at: dt.datetime
    expires_at: dt.datetime | None


class TakenMessage(Message, frozen=True):
    """A message taken from an inbox: `delivery_count` 1 the first time, more on redelivery."""

    delivery_count: int


class ReplayedMessage(Message, frozen=True):
    """A message addressed to the agent, with when it was acknowledged (None: not yet)."""

    acked_at: dt.datetime | None


class Inbox(msgspec.Struct, frozen=True):
    items: list[TakenMessage]


class Acked(msgspec.Struct, frozen=True):
    acked: int


class MessagePage(msgspec.Struct, frozen=True):
    items: list[Message]
    next_cursor: str | None


class ReplayPage(msgspec.Struct, frozen=True):
    items: list[ReplayedMessage]
    next_cursor: str | None


class InboxStats(msgspec.Struct):
    """What `inbox()` did: messages handed to the handler, acknowledged, and failed (the handler
    raised: left unacknowledged, so that they are delivered again after the lease)."""

    handled: int = 0
    acked: int = 0
    failed: int = 0


# -- admin ----------------------------------------------------------------------------------------


class MemoryCounts(msgspec.Struct, frozen=True):
    total: int
    by_agent: dict[str, int]
    by_embedding_space: dict[str, int]
    waiting_for_embedding: int
    embedding_space: str | None


class MessageCounts(msgspec.Struct, frozen=True):
    total: int
    unacknowledged: int
    unacknowledged_by_agent: dict[str, int]
    outbox_backlog: int


class CacheCounts(msgspec.Struct, frozen=True):
    available: bool
    hits: int | None
    misses: int | None
    hit_rate: float | None


class Stats(msgspec.Struct, frozen=True):
    agents: int
    memories: MemoryCounts
    messages: MessageCounts
    cache: CacheCounts


class Cleanup(msgspec.Struct, frozen=True):
    expired_memories_deleted: int
    messages_trimmed: int
    messages_pruned: int


class ClearIn(msgspec.Struct, kw_only=True):
    confirm: str


class AuditEntry(msgspec.Struct, frozen=True):
    id: int
    at: dt.datetime
    action: str
    key_id: uuid.UUID | None
    request_id: str | None
    target: str | None
    detail: dict[str, Any]


class AuditPage(msgspec.Struct, frozen=True):
    items: list[AuditEntry]
    next_cursor: str | None


# -- workspaces and keys --------------------------------------------------------------------------


class WorkspaceIn(msgspec.Struct, kw_only=True):
    id: str
    name: str | UnsetType = UNSET


class Workspace(msgspec.Struct, frozen=True):
    id: str
    name: str
    created_at: dt.datetime


class WorkspacePage(msgspec.Struct, frozen=True):
    items: list[Workspace]
    next_cursor: str | None


class RateLimit(msgspec.Struct, frozen=True):
    """A token bucket: `burst` requests at once, refilled at `per_second`."""

    per_second: float
    burst: int


class KeyIn(msgspec.Struct, kw_only=True):
    name: str
    scopes: list[Scope]
    agent_id: str | UnsetType = UNSET
    expires_at: dt.datetime | UnsetType = UNSET
    rate_limit: RateLimit | UnsetType = UNSET


class Key(msgspec.Struct, frozen=True):
    """An API key as listed (never its secret)."""

    id: uuid.UUID
    name: str
    scopes: list[str]
    agent_id: str | None
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    rate_limit: RateLimit | None
    last_used_at: dt.datetime | None


class NewKey(msgspec.Struct, frozen=True):
    """A new API key with its `secret`: shown this once."""

    id: uuid.UUID
    name: str
    scopes: list[str]
    agent_id: str | None
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    rate_limit: RateLimit | None
    secret: str


class KeyList(msgspec.Struct, frozen=True):
    items: list[Key]


# -- health and problems --------------------------------------------------------------------------


class Live(msgspec.Struct, frozen=True):
    status: str


class Ready(msgspec.Struct, frozen=True):
    """`status` "ok", "degraded" (Redis down) or "unavailable" (PostgreSQL down)."""

    status: str
    postgres: str
    redis: str


class FieldProblem(msgspec.Struct, frozen=True):
    field: str
    message: str


class Problem(msgspec.Struct, frozen=True):
    """An RFC 9457 problem-details body, as every error answers."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldProblem] | UnsetType = UNSET
