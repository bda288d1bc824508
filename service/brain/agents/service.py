"""Agent registry rules."""

from __future__ import annotations

from brain.agents import repository
from brain.agents.schemas import AgentIn
from brain.kit import db, errors, fields, pagination


class AgentService:
    key = "agents"  # kit.areas.WorkspaceData

    def __init__(self, database: db.Database, max_metadata_bytes: int) -> None:
        self.db = database
        self.max_metadata_bytes = max_metadata_bytes

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

    # -- its data per workspace (kit.areas.WorkspaceData) ---------------------------------------

    async def counts(self, workspace: str) -> int:
        """Registered agents."""
        return await repository.count(self.db, workspace)

    async def cleanup(self, workspace: str) -> dict[str, int]:
        return {}  # registrations do not expire

    async def erase(self, conn: db.Conn, workspace: str) -> None:
        await repository.delete_all(conn, workspace)
