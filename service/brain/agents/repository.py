"""SQL for agents (queries.sql beside this file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from brain.kit import db

SQL = db.load_queries(Path(__file__).with_name("queries.sql"))


async def upsert(database: db.Database, params: dict[str, Any]) -> dict[str, Any]:
    async with database.connection(workspace=params["workspace"], write=True) as conn:
        cur = await conn.execute(SQL["upsert"], params)
        row = await cur.fetchone()
    assert row is not None
    return row


async def get(database: db.Database, workspace: str, agent_id: str) -> str | None:
    async with database.connection(workspace=workspace) as conn:
        cur = await conn.execute(SQL["get"], {"workspace": workspace, "id": agent_id})
        row = await cur.fetchone()
    return None if row is None else str(row["body"])


async def page(
    database: db.Database, workspace: str, after: str | None, limit: int
) -> list[dict[str, Any]]:
    async with database.connection(workspace=workspace) as conn:
        params = {"workspace": workspace, "after": after, "limit": limit}
        cur = await conn.execute(SQL["list"], params, prepare=db.PLAN_EACH_CALL)
        return await cur.fetchall()


async def delete(database: db.Database, workspace: str, agent_id: str) -> bool:
    async with database.connection(workspace=workspace, write=True) as conn:
        cur = await conn.execute(SQL["delete"], {"workspace": workspace, "id": agent_id})
    return cur.rowcount > 0


async def count(database: db.Database, workspace: str) -> int:
    async with database.connection(workspace=workspace, read_only=True) as conn:
        cur = await conn.execute(SQL["count"], {"workspace": workspace})
        row = await cur.fetchone()
    return int(row["agents"]) if row else 0


async def delete_all(conn: db.Conn, workspace: str) -> int:
    cur = await conn.execute(SQL["delete_all"], {"workspace": workspace})
    return cur.rowcount


async def purge(conn: db.Conn, workspace: str, agent_id: str) -> bool:
    cur = await conn.execute(SQL["delete"], {"workspace": workspace, "id": agent_id})
    return cur.rowcount > 0
