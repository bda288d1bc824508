"""Stats, cleanup and clear: operations that span the areas."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Router, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from brain import auth, cache, db, idempotency
from brain.agents import repository as agents_repo
from brain.agents.service import AgentService
from brain.memory import repository as memories_repo
from brain.memory.service import MemoryService
from brain.messaging import repository as messages_repo
from brain.messaging.service import MessageService

CONFIRMATION = "delete all data"


class ClearIn(msgspec.Struct, forbid_unknown_fields=True):
    confirm: Annotated[
        Literal["delete all data"], msgspec.Meta(description=f"must be {CONFIRMATION!r}")
    ]


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


@get("/stats", summary="Counts of agents, memories and cache use")
async def stats(admin: Admin, workspace: auth.Workspace) -> dict[str, Any]:
    return await admin.stats(workspace)


@post("/admin/cleanup", status_code=200, summary="Delete expired data now")
async def cleanup(admin: Admin, workspace: auth.Workspace) -> dict[str, int]:
    return await admin.cleanup(workspace)


@post(
    "/admin/clear", status_code=204, summary='Delete all data; body {"confirm": "delete all data"}'
)
async def clear(data: JSONBody[ClearIn], admin: Admin, workspace: auth.Workspace) -> None:
    await admin.clear(workspace)


router = Router("/", route_handlers=[stats, cleanup, clear], tags=["admin"])
