"""Agent registry rules."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from brain.agents import repository
from brain.agents.schemas import AgentIn
from brain.kit import areas, audit, db, errors, fields, pagination

PURGE_TIMEOUT_S = 60
"""How long each statement of an agent's purge may run (its memories and messages at once)."""


class AgentService:
    key = "agents"  # kit.areas.WorkspaceData

    def __init__(
        self, database: db.Database, max_metadata_bytes: int, data: Sequence[areas.WorkspaceData]
    ) -> None:
        self.db = database
        self.max_metadata_bytes = max_metadata_bytes
        self.data = data  # every area's, this one first (the app fills it as it builds them)

    async def register(self, workspace: str, agent_id: str, data: AgentIn) -> tuple[bytes, bool]:
        """Create or replace a registration; True when it is new."""
        fields.agent_id(agent_id)
        metadata = fields.context_size(data.metadata, self.max_metadata_bytes, field="metadata")
        row = await repository.upsert(
            self.db,
            {
                "workspace": workspace,
                "id": agent_id,
                "name": fields.label(data.name, "name"),
                "role": fields.label(data.role, "role"),
                "capabilities": fields.tags(data.capabilities, "capabilities"),
                "metadata": metadata.decode(),
            },
        )
        return row["body"].encode(), bool(row["created"])

    async def get(self, workspace: str, agent_id: str) -> bytes:
        body = await repository.get(self.db, workspace, fields.agent_id(agent_id))
        if body is None:
            raise errors.NotFound(f"agent {agent_id} is not registered")
        return body.encode()

    async def list(self, workspace: str, limit: int, cursor: str | None) -> bytes:
        """Agents by id; `cursor` is the last id of the previous page."""
        if cursor is not None:
            fields.agent_id(cursor, field="cursor")
        rows = await repository.page(self.db, workspace, cursor, limit + 1)
        return pagination.page(rows, limit, lambda row: str(row["id"]))[0]

    async def delete(self, workspace: str, agent_id: str) -> None:
        """Remove the registration; the agent's memories stay (they are shared knowledge)."""
        if not await repository.delete(self.db, workspace, fields.agent_id(agent_id)):
            raise errors.NotFound(f"agent {agent_id} is not registered")

    async def erase_agent(self, workspace: str, agent_id: str, key_id: uuid.UUID | None) -> None:
        """Erase everything held of the agent: its registration, memories, messages (sent, and
        sent to it), deliveries, cache entries and stream entries, in one transaction (then
        Redis), recorded in the audit log. Erasing an agent that left nothing is no error."""
        fields.agent_id(agent_id)
        after: list[Callable[[], Awaitable[None]]] = []
        async with self.db.transaction(
            workspace=workspace, statement_seconds=PURGE_TIMEOUT_S
        ) as conn:
            for part in reversed(self.data):
                done = await part.purge(conn, workspace, agent_id)
                if done is not None:
                    after.append(done)
            await audit.record(conn, workspace, "agent.purged", key_id, agent_id)
        for done in after:
            await done()

    async def export_agent(
        self, workspace: str, agent_id: str, key_id: uuid.UUID | None
    ) -> AsyncIterator[bytes]:
        """Everything held of the agent as NDJSON: its registration, then each area's lines
        (memories, messages). 404 unless it is registered. Recorded in the audit log."""
        body = await self.get(workspace, agent_id)
        await audit.write(self.db, workspace, "agent.exported", key_id, agent_id)

        async def lines() -> AsyncIterator[bytes]:
            yield b'{"type":"agent","data":' + body + b"}\n"
            for part in self.data:
                async for line in part.export(workspace, agent_id):
                    yield line

        return lines()

    # -- its data per workspace (kit.areas.WorkspaceData) ---------------------------------------

    async def counts(self, workspace: str) -> int:
        """Registered agents."""
        return await repository.count(self.db, workspace)

    async def cleanup(self, workspace: str) -> dict[str, int]:
        return {}  # registrations do not expire

    async def erase(self, conn: db.Conn, workspace: str) -> None:
        await repository.delete_all(conn, workspace)

    async def export(self, workspace: str, agent_id: str) -> AsyncIterator[bytes]:
        """Nothing beyond the registration, which `export_agent` writes first."""
        nothing: tuple[bytes, ...] = ()
        for line in nothing:
            yield line

    async def purge(
        self, conn: db.Conn, workspace: str, agent_id: str
    ) -> Callable[[], Awaitable[None]] | None:
        await repository.purge(conn, workspace, agent_id)
        return None
