"""SQL for API keys (queries.sql beside this file)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from brain.kit import db

SQL = db.load_queries(Path(__file__).with_name("queries.sql"))


async def insert_key(conn: db.Conn, params: dict[str, Any]) -> dict[str, Any] | None:
    """The new key's row; None when the workspace holds its maximum of live keys."""
    cur = await conn.execute(SQL["insert_key"], params)
    return await cur.fetchone()


async def list_keys(database: db.Database, workspace: str) -> list[str]:
    async with database.connection(workspace=workspace) as conn:
        cur = await conn.execute(SQL["list_keys"], {"workspace": workspace})
        return [str(row["body"]) for row in await cur.fetchall()]


async def revoke_key(conn: db.Conn, workspace: str, key_id: uuid.UUID) -> bool:
    cur = await conn.execute(SQL["revoke_key"], {"workspace": workspace, "id": key_id})
    return await cur.fetchone() is not None


async def delete_keys(conn: db.Conn, workspace: str) -> None:
    await conn.execute(SQL["delete_keys"], {"workspace": workspace})
