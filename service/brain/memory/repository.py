"""SQL for memories (queries.sql beside this file)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from brain.kit import db

_LOADED = db.load_queries(Path(__file__).with_name("queries.sql"))
SQL = {name: text.replace("__FILTERS__", _LOADED["filters"]) for name, text in _LOADED.items()}
CLEANUP_BATCH = 5000


async def insert(conn: db.Conn, params: dict[str, Any]) -> dict[str, Any]:
    cur = await conn.execute(SQL["insert"], params)
    row = await cur.fetchone()
    assert row is not None
    return row


async def insert_batch(conn: db.Conn, params: dict[str, Any]) -> dict[uuid.UUID, dict[str, Any]]:
    """The batch's rows by id (PostgreSQL does not promise RETURNING in input order)."""
    cur = await conn.execute(SQL["insert_batch"], params)
    return {row["id"]: row for row in await cur.fetchall()}


async def get(database: db.Database, workspace: str, memory_id: uuid.UUID) -> dict[str, Any] | None:
    async with database.connection(workspace=workspace) as conn:
        cur = await conn.execute(SQL["get"], {"workspace": workspace, "id": memory_id})
        return await cur.fetchone()


async def delete(
    database: db.Database, workspace: str, memory_id: uuid.UUID, agent_id: str | None = None
) -> str | None:
    """Delete a live memory (of `agent_id`, if given); return its agent id, or None if there was
    none."""
    async with database.connection(workspace=workspace, write=True) as conn:
        params = {"workspace": workspace, "id": memory_id, "agent_id": agent_id}
        cur = await conn.execute(SQL["delete"], params)
        row = await cur.fetchone()
    return None if row is None else str(row["agent_id"])


async def query(database: db.Database, order: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    async with database.connection(workspace=params["workspace"]) as conn:
        cur = await conn.execute(SQL[f"query_{order}"], params, prepare=db.PLAN_EACH_CALL)
        return await cur.fetchall()


def ranked_sql(kind: str, dimensions: int) -> str:
    """The semantic or hybrid query for an embedding space of `dimensions` (an int: literal)."""
    return SQL[f"query_{kind}"].replace("__DIMS__", str(int(dimensions)))


async def ranked(
    database: db.Database, kind: str, dimensions: int, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Memories ranked by meaning (`semantic`) or by fused ranks (`hybrid`)."""
    sql = ranked_sql(kind, dimensions)
    async with database.connection(workspace=params["workspace"]) as conn:
        cur = await conn.execute(sql, params, prepare=db.PLAN_EACH_CALL)
        return await cur.fetchall()


async def lexemes(database: db.Database, workspace: str, text: str) -> int:
    """Search terms in `text` once PostgreSQL drops stop words and punctuation."""
    async with database.connection(workspace=workspace) as conn:
        cur = await conn.execute(SQL["lexemes"], {"text": text})
        row = await cur.fetchone()
    return int(row["nodes"]) if row else 0


async def counts(
    database: db.Database, workspace: str, top: int
) -> tuple[int, list[dict[str, Any]]]:
    """Live memories in all, and for the `top` agents with the most."""
    async with database.connection(workspace=workspace, read_only=True) as conn:
        cur = await conn.execute(SQL["count_live"], {"workspace": workspace})
        total = await cur.fetchone()
        cur = await conn.execute(SQL["count_by_agent"], {"workspace": workspace, "limit": top})
        return int(total["memories"]) if total else 0, await cur.fetchall()


async def delete_expired(database: db.Database, workspace: str) -> int:
    """Delete expired rows in batches (short transactions); return how many."""
    total = 0
    async with database.connection(workspace=workspace, write=True) as conn:
        while True:
            cur = await conn.execute(
                SQL["delete_expired"], {"workspace": workspace, "batch": CLEANUP_BATCH}
            )
            total += cur.rowcount
            if cur.rowcount < CLEANUP_BATCH:
                return total


async def delete_all(conn: db.Conn, workspace: str) -> int:
    cur = await conn.execute(SQL["delete_all"], {"workspace": workspace})
    return cur.rowcount


async def export_page(
    database: db.Database, workspace: str, agent_id: str, after: tuple[Any, Any] | None, limit: int
) -> list[dict[str, Any]]:
    async with database.connection(workspace=workspace, read_only=True) as conn:
        created_at, after_id = after if after else (None, None)
        params = {
            "workspace": workspace, "agent_id": agent_id, "limit": limit,
            "after_created_at": created_at, "after_id": after_id,
        }  # fmt: skip
        cur = await conn.execute(SQL["export_page"], params)
        return await cur.fetchall()


async def purge(conn: db.Conn, workspace: str, agent_id: str) -> int:
    cur = await conn.execute(SQL["purge"], {"workspace": workspace, "agent_id": agent_id})
    return cur.rowcount


async def counts_by_space(database: db.Database, workspace: str) -> list[dict[str, Any]]:
    async with database.connection(workspace=workspace, read_only=True) as conn:
        cur = await conn.execute(SQL["count_by_space"], {"workspace": workspace})
        return await cur.fetchall()


async def spaces_elsewhere(database: db.Database, space: str) -> list[dict[str, Any]]:
    """Across workspaces: live memories with vectors of another space than `space`."""
    async with database.connection(workspace=db.ALL, read_only=True) as conn:
        cur = await conn.execute(SQL["spaces_elsewhere"], {"space": space})
        return await cur.fetchall()


async def waiting(database: db.Database, limit: int) -> list[dict[str, Any]]:
    """Across workspaces: memories waiting for their vector, oldest first."""
    async with database.connection(workspace=db.ALL) as conn:
        cur = await conn.execute(SQL["waiting"], {"limit": limit})
        return await cur.fetchall()


async def not_in_space(
    database: db.Database, space: str, after: tuple[str, uuid.UUID], limit: int
) -> list[dict[str, Any]]:
    """Across workspaces, in primary-key order after `after`: live memories without a vector
    of `space`."""
    params = {"space": space, "after_workspace": after[0], "after_id": after[1], "limit": limit}
    async with database.connection(workspace=db.ALL) as conn:
        cur = await conn.execute(SQL["not_in_space"], params)
        return await cur.fetchall()


async def count_not_in_space(database: db.Database, space: str) -> int:
    async with database.connection(workspace=db.ALL, read_only=True) as conn:
        cur = await conn.execute(SQL["count_not_in_space"], {"space": space})
        row = await cur.fetchone()
    return int(row["memories"]) if row else 0


async def set_vectors(
    database: db.Database, space: str, rows: list[tuple[str, uuid.UUID, str | None]]
) -> list[dict[str, Any]]:
    """Give rows (workspace, id, vector or None) vectors of `space`; the (workspace, agent_id)
    of those changed."""
    params = {
        "space": space,
        "workspaces": [r[0] for r in rows],
        "ids": [r[1] for r in rows],
        "embeddings": [r[2] for r in rows],
    }
    async with database.connection(workspace=db.ALL, write=True) as conn:
        cur = await conn.execute(SQL["set_vectors"], params)
        return await cur.fetchall()


async def lock_agent(conn: db.Conn, workspace: str, agent_id: str) -> None:
    """Until the transaction ends, other dedupe stores of this agent wait."""
    await conn.execute(SQL["agent_lock"], {"workspace": workspace, "agent_id": agent_id})


async def nearest_of_agent(
    conn: db.Conn, dimensions: int, params: dict[str, Any]
) -> dict[str, Any] | None:
    """The agent's live memory nearest to `vector` in `space`, with its similarity."""
    sql = SQL["nearest_of_agent"].replace("__DIMS__", str(int(dimensions)))
    cur = await conn.execute(sql, params, prepare=db.PLAN_EACH_CALL)
    return await cur.fetchone()
