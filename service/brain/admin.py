"""Stats, cleanup and clear: operations that span the areas."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import msgspec
from litestar import Router, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from brain.agents import repository as agents_repo
from brain.agents.service import AgentService
from brain.kit import auth, cache, db, idempotency, openapi
from brain.memory import repository as memories_repo
from brain.memory.service import STATS_TOP_AGENTS, MemoryService
from brain.messaging import repository as messages_repo
from brain.messaging.service import MessageService

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
        dict[str, int], msgspec.Meta(description=f"the {STATS_TOP_AGENTS} agents with most")
    ]


class MessageCounts(msgspec.Struct):
    total: int
    unacknowledged: int
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
        "memories": {"total": 1250, "by_agent": {"sales": 700, "research": 550}},
        "messages": {"total": 310, "unacknowledged": 4, "outbox_backlog": 0},
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


class AdminService:
    def __init__(
        self,
        database: db.Database,
        memo: cache.Cache,
        agents: AgentService,
        memories: MemoryService,
        messages: MessageService,
    ) -> None:
        self.db = database
        self.cache = memo
        self.agents = agents
        self.memories = memories
        self.messages = messages

    async def stats(self, workspace: str) -> dict[str, Any]:
        counts = await self.cache.counts(workspace)
        hits, misses = (counts["hits"], counts["misses"]) if counts else (None, None)
        lookups = (hits or 0) + (misses or 0)
        return {
            "agents": await self.agents.count(workspace),
            "memories": await self.memories.counts(workspace),
            "messages": await self.messages.counts(workspace),
            "cache": {
                "available": counts is not None,
                "hits": hits,
                "misses": misses,
                "hit_rate": round(hits / lookups, 4) if hits is not None and lookups else None,
            },
        }

    async def cleanup(self, workspace: str) -> dict[str, int]:
        """Delete expired memories and day-old idempotency keys, trim the delivery streams to the
        message retention and prune message history past its window."""
        deleted = await self.memories.cleanup(workspace)
        trimmed, pruned = await self.messages.cleanup(workspace)
        async with self.db.connection(write=True) as conn:
            params = {"workspace": workspace, "seconds": idempotency.KEEP_SECONDS}
            await conn.execute(idempotency.SQL["forget_older_than"], params)
        return {
            "expired_memories_deleted": deleted,
            "messages_trimmed": trimmed,
            "messages_pruned": pruned,
        }

    async def clear(self, workspace: str) -> None:
        """Delete every agent, memory, message and idempotency key of the workspace, then its
        cache entries and delivery streams."""
        agents = await messages_repo.stream_agents(self.db, workspace)
        async with self.db.transaction() as conn:
            await messages_repo.delete_all(conn, workspace)
            await memories_repo.delete_all(conn, workspace)
            await agents_repo.delete_all(conn, workspace)
            await conn.execute(idempotency.SQL["forget_all"], {"workspace": workspace})
        await self.cache.invalidate_all(workspace)
        await self.messages.forget_streams(workspace, agents)


Admin = NamedDependency[AdminService]


@get(
    "/stats",
    operation_id="stats",
    summary="Counts of agents, memories, messages and cache use",
    responses=openapi.responses(200, Stats, "The counts.", 401, 503),
)
async def stats(admin: Admin, workspace: auth.Workspace) -> dict[str, Any]:
    """Live memories in all and by agent, messages and unacknowledged deliveries, the outbox
    backlog, and the cache's hits and misses."""
    return await admin.stats(workspace)


@post(
    "/admin/cleanup",
    operation_id="cleanup",
    summary="Delete expired data now",
    status_code=200,
    responses=openapi.responses(200, Cleanup, "What was deleted.", 401, 503),
)
async def cleanup(admin: Admin, workspace: auth.Workspace) -> dict[str, int]:
    """Expired memories, day-old idempotency keys, stream entries past the retention and
    history past its window (what `brain cleanup` does)."""
    return await admin.cleanup(workspace)


@post(
    "/admin/clear",
    operation_id="clear",
    summary=f'Delete all data; body {{"confirm": "{CONFIRMATION}"}}',
    status_code=204,
    responses=openapi.responses(204, None, "Everything is gone.", 400, 401, 413, 415, 422, 503),
)
async def clear(data: JSONBody[ClearIn], admin: Admin, workspace: auth.Workspace) -> None:
    """Every agent, memory, message and idempotency key of the workspace, then its cache
    entries and delivery streams."""
    await admin.clear(workspace)


router = Router("/", route_handlers=[stats, cleanup, clear], tags=["admin"])
