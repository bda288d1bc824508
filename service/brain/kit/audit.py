"""The audit log: keys created and revoked, workspaces created and deleted, clear, cleanup, and
an agent's export and purge, each with the key that did it (none: the admin token), the request
id and the time. Written in the transaction of what it records, where there is one."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import msgspec

from brain.kit import db
from brain.observability import logs

SQL = db.load_queries(Path(__file__).with_name("audit.sql"))

ACTIONS = (
    "workspace.created", "workspace.deleted", "key.created", "key.revoked", "clear", "cleanup",
    "agent.exported", "agent.purged",
)  # fmt: skip


async def record(
    conn: db.Conn,
    workspace: str,
    action: str,
    key_id: uuid.UUID | None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an entry to `workspace`'s log on `conn` (which works in that workspace)."""
    assert action in ACTIONS, action
    await conn.execute(
        SQL["record"],
        {
            "workspace": workspace, "action": action, "key_id": key_id,
            "request_id": logs.REQUEST_ID.get(), "target": target,
            "detail": msgspec.json.encode(detail or {}).decode(),
        },
    )  # fmt: skip


async def write(
    database: db.Database,
    workspace: str,
    action: str,
    key_id: uuid.UUID | None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """`record` in a statement of its own."""
    async with database.connection(workspace=workspace, write=True) as conn:
        await record(conn, workspace, action, key_id, target, detail)


async def page(
    database: db.Database, workspace: str, before: int | None, limit: int
) -> list[dict[str, Any]]:
    async with database.connection(workspace=workspace, read_only=True) as conn:
        params = {"workspace": workspace, "before": before, "limit": limit}
        cur = await conn.execute(SQL["page"], params)
        return await cur.fetchall()


async def forget_all(conn: db.Conn, workspace: str) -> None:
    await conn.execute(SQL["delete_all"], {"workspace": workspace})
