"""The workspace registry: which workspaces exist.

Each workspace's data is apart from every other's, down to PostgreSQL's row-level security
(`kit.db.enter`). The registry itself is read whole only by the service's own work: the admin
token's list, the relay, the cache's start, `brain cleanup`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from brain.kit import db

SQL = db.load_queries(Path(__file__).with_name("registry.sql"))
DEFAULT = "default"
"""The workspace the admin token works in without `X-Brain-Workspace`, and where a Brain from
before workspaces keeps its data."""
MAX_WORKSPACES = 10_000
KNOWN_SECONDS = 0.5
"""How long this process trusts that a workspace exists (the admin token's `X-Brain-Workspace`)."""


async def ids(database: db.Database) -> list[str]:
    """Every workspace, by id."""
    async with database.connection(workspace=db.ALL) as conn:
        cur = await conn.execute(SQL["ids"])
        return [str(row["id"]) for row in await cur.fetchall()]


async def page(database: db.Database, after: str | None, limit: int) -> list[dict[str, Any]]:
    async with database.connection(workspace=db.ALL) as conn:
        cur = await conn.execute(SQL["page"], {"after": after, "limit": limit})
        return await cur.fetchall()


async def create(database: db.Database, workspace: str, name: str) -> str | None:
    """The new workspace's JSON; None if it exists already (or MAX_WORKSPACES do)."""
    async with database.connection(workspace=db.ALL, write=True) as conn:
        params = {"workspace": workspace, "name": name, "max": MAX_WORKSPACES}
        cur = await conn.execute(SQL["create"], params)
        row = await cur.fetchone()
    return None if row is None else str(row["body"])


async def count(database: db.Database) -> int:
    async with database.connection(workspace=db.ALL) as conn:
        cur = await conn.execute(SQL["count"])
        row = await cur.fetchone()
    return int(row["workspaces"]) if row else 0


async def delete(conn: db.Conn, workspace: str) -> None:
    """Remove the workspace's row, in the erase's transaction (working in that workspace)."""
    await conn.execute(SQL["delete"], {"workspace": workspace})


class Known:
    """Which workspaces exist, as this process saw them in the last KNOWN_SECONDS."""

    def __init__(self, database: db.Database) -> None:
        self.db = database
        self._seen: dict[str, float] = {}

    async def exists(self, workspace: str) -> bool:
        now = time.monotonic()
        if self._seen.get(workspace, 0.0) > now:
            return True
        async with self.db.connection(workspace=workspace) as conn:
            cur = await conn.execute(SQL["exists"], {"workspace": workspace})
            found = await cur.fetchone() is not None
        if found:
            if len(self._seen) >= MAX_WORKSPACES:
                self._seen.clear()
            self._seen[workspace] = now + KNOWN_SECONDS
        return found

    def forget(self, workspace: str) -> None:
        self._seen.pop(workspace, None)
