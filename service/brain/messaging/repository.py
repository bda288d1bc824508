"""SQL for messages and deliveries (queries.sql beside this file)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from brain.kit import db

SQL = db.load_queries(Path(__file__).with_name("queries.sql"))
PRUNE_BATCH = 5000


async def publish(conn: db.Conn, params: dict[str, Any]) -> dict[str, Any]:
    """The message and its deliveries (one, or one per registered agent but the sender), if the
    agents it names are registered: `from_known`, `to_known`, then the message and `recipients`
    (the message columns are None when an agent is unknown and nothing was written)."""
    name = "publish_broadcast" if params["to_agent"] is None else "publish_direct"
    cur = await conn.execute(SQL[name], params)
    row = await cur.fetchone()
    assert row is not None
    return row


async def outbox_batch(
    conn: db.Conn, grace: float, retention: float, batch: int
) -> list[dict[str, Any]]:
    params = {"grace": grace, "retention": retention, "batch": batch}
    cur = await conn.execute(SQL["outbox_batch"], params)
    return await cur.fetchall()


async def mark_enqueued(conn: db.Conn, rows: Sequence[dict[str, Any]]) -> None:
    await conn.execute(
        SQL["mark_enqueued"],
        {
            "workspaces": [r["workspace"] for r in rows],
            "agents": [r["agent_id"] for r in rows],
            "messages": [r["message_id"] for r in rows],
        },
    )


async def mark_appended(database: db.Database, rows: Sequence[dict[str, Any]]) -> None:
    """`mark_enqueued` for what the share path appended. Without waiting for the WAL flush: if
    the mark is lost in a crash, the relay appends again, which changes nothing."""
    # The rows' workspace when they share one (the common case: a pooled connection then keeps
    # the workspace requests set on it, and needs no round trip to change it there and back).
    spaces = {r["workspace"] for r in rows}
    workspace = spaces.pop() if len(spaces) == 1 else db.ALL
    async with database.transaction(workspace=workspace) as conn:
        await conn.execute("SET LOCAL synchronous_commit = off")
        await mark_enqueued(conn, rows)


async def requeue_unacked(database: db.Database, retention: float) -> int:
    """Every workspace's unacknowledged deliveries back into the outbox (Redis lost them)."""
    async with database.connection(workspace=db.ALL, write=True) as conn:
        cur = await conn.execute(SQL["requeue_unacked"], {"retention": retention})
        return cur.rowcount


async def ack(
    database: db.Database, workspace: str, agent_id: str, ids: list[Any]
) -> tuple[int, int]:
    """Record acknowledgements; returns (ids addressed to the agent, newly acknowledged)."""
    async with database.connection(workspace=workspace, write=True) as conn:
        params = {"workspace": workspace, "agent_id": agent_id, "ids": ids}
        cur = await conn.execute(SQL["ack"], params)
        row = await cur.fetchone()
    assert row is not None
    return int(row["acked"]), int(row["newly"])


async def acked_among(
    database: db.Database, workspace: str, agent_id: str, ids: list[str]
) -> set[str]:
    async with database.connection(workspace=workspace) as conn:
        params = {"workspace": workspace, "agent_id": agent_id, "ids": ids}
        cur = await conn.execute(SQL["acked_among"], params)
        return {str(row["message_id"]) for row in await cur.fetchall()}


async def history(database: db.Database, params: dict[str, Any]) -> list[dict[str, Any]]:
    async with database.connection(workspace=params["workspace"], read_only=True) as conn:
        cur = await conn.execute(SQL["history"], params, prepare=db.PLAN_EACH_CALL)
        return await cur.fetchall()


async def replay(database: db.Database, params: dict[str, Any]) -> list[dict[str, Any]]:
    async with database.connection(workspace=params["workspace"], read_only=True) as conn:
        cur = await conn.execute(SQL["replay"], params, prepare=db.PLAN_EACH_CALL)
        return await cur.fetchall()


async def counts(database: db.Database, workspace: str, top: int) -> dict[str, Any]:
    """The totals, and the `top` agents with most unacknowledged deliveries."""
    async with database.connection(workspace=workspace, read_only=True) as conn:
        cur = await conn.execute(SQL["counts"], {"workspace": workspace})
        row = await cur.fetchone()
        cur = await conn.execute(
            SQL["unacknowledged_by_agent"], {"workspace": workspace, "limit": top}
        )
        by_agent = await cur.fetchall()
    assert row is not None
    figures: dict[str, Any] = {k: int(v) for k, v in row.items()}
    figures["unacknowledged_by_agent"] = {r["agent_id"]: r["unacknowledged"] for r in by_agent}
    return figures


async def outbox_backlog(database: db.Database) -> int:
    """Deliveries of every workspace not yet on a stream."""
    async with database.connection(workspace=db.ALL) as conn:
        cur = await conn.execute(SQL["outbox_backlog"])
        row = await cur.fetchone()
    return int(row["backlog"]) if row else 0


async def prune(database: db.Database, workspace: str, keep: dt.timedelta) -> int:
    total = 0
    async with database.connection(workspace=workspace, write=True) as conn:
        while True:
            params = {"workspace": workspace, "keep": keep.total_seconds(), "batch": PRUNE_BATCH}
            cur = await conn.execute(SQL["prune"], params)
            total += cur.rowcount
            if cur.rowcount < PRUNE_BATCH:
                return total


async def registered_agents(database: db.Database, workspace: str) -> list[str]:
    async with database.connection(workspace=workspace) as conn:
        cur = await conn.execute(SQL["registered_agents"], {"workspace": workspace})
        return [row["id"] for row in await cur.fetchall()]


async def stream_agents(database: db.Database, workspace: str) -> list[str]:
    async with database.connection(workspace=workspace) as conn:
        cur = await conn.execute(SQL["stream_agents"], {"workspace": workspace})
        return sorted(row["id"] for row in await cur.fetchall())


async def delete_all(conn: db.Conn, workspace: str) -> int:
    cur = await conn.execute(SQL["delete_all"], {"workspace": workspace})
    return cur.rowcount


async def export_page(
    database: db.Database, workspace: str, agent_id: str, after_seq: int | None, limit: int
) -> list[dict[str, Any]]:
    async with database.connection(workspace=workspace, read_only=True) as conn:
        params = {"workspace": workspace, "agent_id": agent_id, "after_seq": after_seq}
        cur = await conn.execute(SQL["export_page"], {**params, "limit": limit})
        return await cur.fetchall()


async def purge(conn: db.Conn, workspace: str, agent_id: str) -> dict[str, list[str]]:
    """Delete the agent's messages and deliveries; the unacknowledged deliveries of what it
    sent to others, by recipient (their stream entries are to go too)."""
    params = {"workspace": workspace, "agent_id": agent_id}
    cur = await conn.execute(SQL["purge_deliveries_of_sent"], params)
    pending = {str(row["agent_id"]): list(row["ids"]) for row in await cur.fetchall()}
    await conn.execute(SQL["purge"], params)
    return pending
